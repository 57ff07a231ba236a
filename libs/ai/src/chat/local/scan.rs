//! What a message mentions: its words, and the values in it a tool argument can take —
//! emails, ISO dates, ids (`ORD-1234`, UUIDs), numbers (`$1,200`, `15%`), quoted strings.
use std::borrow::Cow;

/// A value found in the text, with the index of its word (for nearness to cue words).
#[derive(Debug, Clone, PartialEq)]
pub struct Found<T> {
    pub at: usize,
    pub value: T,
}

#[derive(Debug, Default)]
pub struct Scan {
    /// Every word, lowercased and stripped of surrounding punctuation.
    pub words: Vec<String>,
    /// The words as written (for capitalised names).
    pub raw: Vec<String>,
    pub emails: Vec<Found<String>>,
    pub dates: Vec<Found<String>>,
    pub ids: Vec<Found<String>>,
    pub numbers: Vec<Found<f64>>,
    pub quoted: Vec<Found<String>>,
}

const TRIM: &[char] = &[
    ',', '.', ';', ':', '!', '?', '(', ')', '[', ']', '<', '>', '"', '\'', '“', '”', '‘', '’', '{',
    '}',
];

pub fn scan(text: &str) -> Scan {
    let mut s = Scan::default();
    for (at, token) in text.split_whitespace().enumerate() {
        let word = token.trim_matches(TRIM);
        s.words.push(word.to_lowercase());
        s.raw.push(word.to_string());
        if word.is_empty() {
            continue;
        }
        if is_email(word) {
            s.emails.push(Found {
                at,
                value: word.to_string(),
            });
        } else if is_date(word) {
            s.dates.push(Found {
                at,
                value: word.to_string(),
            });
        } else if let Some(n) = number(word) {
            s.numbers.push(Found { at, value: n });
        } else if is_id(word) {
            s.ids.push(Found {
                at,
                value: word.to_string(),
            });
        }
    }
    s.quoted = quoted(text);
    s
}

fn is_email(w: &str) -> bool {
    let Some((local, domain)) = w.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && w.chars().filter(|c| *c == '@').count() == 1
        && w.chars()
            .all(|c| c.is_alphanumeric() || "@._+-".contains(c))
}

fn is_date(w: &str) -> bool {
    let parts: Vec<&str> = w.split('-').collect();
    let [y, m, d] = parts[..] else { return false };
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return false;
    }
    let (m, d): (u32, u32) = (m.parse().unwrap_or(0), d.parse().unwrap_or(0));
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// `12`, `1,200`, `3.5`, `$40`, `€9.99`, `15%`, `-2` — not `ORD-12` or `v2`.
fn number(w: &str) -> Option<f64> {
    let w = w.trim_start_matches(['$', '€', '£']).trim_end_matches('%');
    if w.is_empty() || !w.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    if !w
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || b == b'.' || b == b',' || (i == 0 && b == b'-'))
    {
        return None;
    }
    let plain: Cow<str> = if w.contains(',') {
        Cow::Owned(w.replace(',', ""))
    } else {
        Cow::Borrowed(w)
    };
    plain.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A token mixing letters and digits (`ORD-1234`, `INV-2024-001`, `A1B2`, a UUID).
fn is_id(w: &str) -> bool {
    w.len() >= 3
        && w.len() <= 80
        && w.bytes().any(|b| b.is_ascii_digit())
        && w.bytes().any(|b| b.is_ascii_alphabetic())
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn quoted(text: &str) -> Vec<Found<String>> {
    let mut out = Vec::new();
    for (open, close) in [('"', '"'), ('“', '”')] {
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len_utf8()..];
            let Some(end) = after.find(close) else { break };
            let inner = after[..end].trim();
            if !inner.is_empty() {
                let at = text[..offset + start].split_whitespace().count();
                out.push(Found {
                    at,
                    value: inner.to_string(),
                });
            }
            let consumed = start + open.len_utf8() + end + close.len_utf8();
            offset += consumed;
            rest = &rest[consumed..];
        }
    }
    out
}

/// A word reduced for matching: lowercased, common English endings dropped.
pub fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    for suffix in ["ing", "ies", "es", "ed", "s"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
        {
            return base.to_string();
        }
    }
    w
}

/// Two stemmed words name the same thing: equal, or one a prefix of the other of at least
/// five letters (`deliver`/`delivery`, `subscri…`).
pub fn same_word(a: &str, b: &str) -> bool {
    a == b || (a.len().min(b.len()) >= 5 && (a.starts_with(b) || b.starts_with(a)))
}

/// The words of an identifier: `order_id`, `orderId`, `order-id` → `order`, `id`.
pub fn ident_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in name.chars() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else if c.is_uppercase() && !cur.is_empty() && !cur.ends_with(char::is_uppercase) {
            words.push(std::mem::take(&mut cur));
            cur.extend(c.to_lowercase());
        } else {
            cur.extend(c.to_lowercase());
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_each_kind_are_found() {
        let s =
            scan("Order ORD-1234 for ana@acme.com on 2024-05-03: 3 seats at $1,200 \"rush it\"");
        assert_eq!(s.ids[0].value, "ORD-1234");
        assert_eq!(s.emails[0].value, "ana@acme.com");
        assert_eq!(s.dates[0].value, "2024-05-03");
        let n: Vec<f64> = s.numbers.iter().map(|f| f.value).collect();
        assert_eq!(n, [3.0, 1200.0]);
        assert_eq!(s.quoted[0].value, "rush it");
        assert_eq!(ident_words("orderId"), ["order", "id"]);
        assert_eq!(ident_words("max_seat_count"), ["max", "seat", "count"]);
        assert_eq!(stem("seats"), "seat");
    }
}
