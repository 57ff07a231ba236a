//! A tool's arguments filled from what the user wrote, guided by the tool's JSON Schema.
//!
//! For each property of the schema's `properties` (string, number, integer, boolean, enum) a
//! value is taken from the text only when the text states it: emails for `format: email` or an
//! `…email` name, ISO dates for `format: date` or a `…date` name, ids (`ORD-1234`) for `…id`,
//! `…number`, `…code`, `…reference` names, numbers nearest the property's name words
//! (`3 seats`, `quantity 4`), an enum value the text mentions, a boolean whose name the text
//! mentions (false after "no", "not", "without"), a quoted string, the whole message for
//! free-text properties (`query`, `question`, `message`, …), and a capitalised name after the
//! property's name words (`company Acme Corp`). A value outside `minimum`/`maximum` is not
//! taken. Nested objects and arrays are never guessed. A required property not found is
//! reported missing — the model then asks for it instead of calling.
use serde_json::{Map, Number, Value};

use super::scan::{self, Found, Scan};

/// The arguments found and the required properties that were not.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub arguments: Map<String, Value>,
    /// Required properties not found, in the schema's order: (name, description).
    pub missing: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Email,
    Date,
    Enum,
    Id,
    Integer,
    Number,
    Boolean,
    Text,
    Name,
    Unsupported,
}

const FREE_TEXT: &[&str] = &[
    "query", "q", "question", "search", "prompt", "text", "message", "request", "topic", "content",
    "keywords",
];
const ID_WORDS: &[&str] = &[
    "id",
    "number",
    "code",
    "reference",
    "ref",
    "sku",
    "uuid",
    "key",
];
const NEGATIONS: &[&str] = &["no", "not", "don't", "dont", "without", "never", "skip"];

struct Prop<'a> {
    name: &'a str,
    schema: &'a Value,
    kind: Kind,
    cues: Vec<String>,
}

pub fn extract_arguments(schema: &Value, text: &str) -> Extracted {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut props: Vec<Prop> = props
        .iter()
        .map(|(name, schema)| Prop {
            name,
            schema,
            kind: kind(name, schema),
            cues: cues(name),
        })
        .collect();
    // The most specific kinds claim their values first, so a number inside an id or a date is
    // never taken for a quantity.
    props.sort_by_key(|p| p.kind);
    let mut s = scan::scan(text);
    let numeric = props
        .iter()
        .filter(|p| matches!(p.kind, Kind::Integer | Kind::Number))
        .count();
    let mut arguments = Map::new();
    for p in &props {
        if let Some(v) = value(p, &mut s, text, numeric) {
            arguments.insert(p.name.to_string(), v);
        }
    }
    let missing = required
        .iter()
        .filter(|r| !arguments.contains_key(**r))
        .map(|r| {
            let desc = props
                .iter()
                .find(|p| p.name == *r)
                .and_then(|p| p.schema.get("description"))
                .and_then(Value::as_str)
                .unwrap_or("");
            (r.to_string(), desc.to_string())
        })
        .collect();
    Extracted { arguments, missing }
}

fn kind(name: &str, schema: &Value) -> Kind {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let words = scan::ident_words(name);
    let last = words.last().map(String::as_str).unwrap_or("");
    if schema.get("enum").and_then(Value::as_array).is_some() {
        return Kind::Enum;
    }
    match ty {
        "integer" => Kind::Integer,
        "number" => Kind::Number,
        "boolean" => Kind::Boolean,
        "string" if format == "email" || last == "email" => Kind::Email,
        "string" if format == "date" || last == "date" => Kind::Date,
        "string" if ID_WORDS.contains(&last) => Kind::Id,
        "string" if FREE_TEXT.contains(&name) || FREE_TEXT.contains(&last) => Kind::Text,
        "string" => Kind::Name,
        _ => Kind::Unsupported,
    }
}

/// The words that point at a property in a sentence: its name's words (stemmed), without the
/// generic `id`/`number` tails.
fn cues(name: &str) -> Vec<String> {
    let words = scan::ident_words(name);
    let specific: Vec<String> = words
        .iter()
        .filter(|w| !ID_WORDS.contains(&w.as_str()))
        .map(|w| scan::stem(w))
        .collect();
    if specific.is_empty() {
        words.iter().map(|w| scan::stem(w)).collect()
    } else {
        specific
    }
}

fn value(p: &Prop, s: &mut Scan, text: &str, numeric: usize) -> Option<Value> {
    let near = cue_positions(&p.cues, s);
    match p.kind {
        Kind::Email => take(&mut s.emails, &near).map(Value::String),
        Kind::Date => take(&mut s.dates, &near).map(Value::String),
        Kind::Id => take(&mut s.ids, &near)
            .or_else(|| digits_near(s, &near))
            .map(Value::String),
        Kind::Enum => enum_value(p.schema, s, &near),
        Kind::Integer | Kind::Number => number_value(p, s, &near, numeric),
        Kind::Boolean => boolean(s, &near),
        Kind::Text => {
            let t = text.trim();
            (!t.is_empty()).then(|| Value::String(t.to_string()))
        }
        Kind::Name => take(&mut s.quoted, &near)
            .or_else(|| name_after(s, &near))
            .map(Value::String),
        Kind::Unsupported => None,
    }
}

fn cue_positions(cues: &[String], s: &Scan) -> Vec<usize> {
    s.words
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.is_empty() && cues.iter().any(|c| scan::same_word(&scan::stem(w), c)))
        .map(|(i, _)| i)
        .collect()
}

fn distance(at: usize, near: &[usize]) -> usize {
    near.iter()
        .map(|n| n.abs_diff(at))
        .min()
        .unwrap_or(usize::MAX)
}

/// The candidate nearest a cue word (else the first), removed so no other property takes it.
fn take<T: Clone>(found: &mut Vec<Found<T>>, near: &[usize]) -> Option<T> {
    let i = (0..found.len()).min_by_key(|&i| (distance(found[i].at, near), i))?;
    Some(found.remove(i).value)
}

/// The candidate within three words of a cue, removed.
fn take_near<T: Clone>(found: &mut Vec<Found<T>>, near: &[usize]) -> Option<T> {
    let i = (0..found.len())
        .filter(|&i| distance(found[i].at, near) <= 3)
        .min_by_key(|&i| distance(found[i].at, near))?;
    Some(found.remove(i).value)
}

/// `order 12345`: a number next to the cue, as written, for an id property.
fn digits_near(s: &mut Scan, near: &[usize]) -> Option<String> {
    let i = (0..s.numbers.len()).find(|&i| distance(s.numbers[i].at, near) <= 2)?;
    let at = s.numbers.remove(i).at;
    Some(s.raw[at].clone())
}

fn number_value(p: &Prop, s: &mut Scan, near: &[usize], numeric: usize) -> Option<Value> {
    let fits = |n: f64| {
        let min = p.schema.get("minimum").and_then(Value::as_f64);
        let max = p.schema.get("maximum").and_then(Value::as_f64);
        // Beyond 2^53 a float no longer holds the integer written: not taken.
        n.abs() <= 9_007_199_254_740_992.0
            && (p.kind == Kind::Number || n.fract() == 0.0)
            && min.is_none_or(|m| n >= m)
            && max.is_none_or(|m| n <= m)
    };
    s.numbers.retain(|f| f.value.is_finite());
    let n = match take_near(&mut s.numbers, near) {
        Some(n) => n,
        // Without a cue, a lone number goes to the lone numeric property.
        None if numeric == 1 && s.numbers.len() == 1 => s.numbers.remove(0).value,
        None => return None,
    };
    if !fits(n) {
        return None;
    }
    if p.kind == Kind::Integer {
        // `fits` checked the value is whole and within 2^53, where the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::from(n as i64));
    }
    Number::from_f64(n).map(Value::Number)
}

fn enum_value(schema: &Value, s: &Scan, near: &[usize]) -> Option<Value> {
    let options = schema.get("enum")?.as_array()?;
    let words: Vec<String> = s.words.iter().map(|w| scan::stem(w)).collect();
    let mut best: Option<(usize, &Value)> = None;
    for option in options {
        let label = match option {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        let want: Vec<String> = scan::ident_words(&label)
            .iter()
            .map(|w| scan::stem(w))
            .collect();
        if want.is_empty() || want.len() > words.len() {
            continue;
        }
        for start in 0..=words.len() - want.len() {
            if words[start..start + want.len()] == want[..] {
                let d = distance(start, near);
                if best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, option));
                }
            }
        }
    }
    best.map(|(_, v)| v.clone())
}

fn boolean(s: &Scan, near: &[usize]) -> Option<Value> {
    let at = *near.first()?;
    let negated = s.words[at.saturating_sub(3)..at]
        .iter()
        .any(|w| NEGATIONS.contains(&w.as_str()));
    Some(Value::Bool(!negated))
}

/// `company Acme Corp`, `company is Acme`, `named Ada Lovelace`: capitalised words after a cue.
fn name_after(s: &Scan, near: &[usize]) -> Option<String> {
    const LINKS: &[&str] = &["is", "named", "called", "of", "=", "-"];
    for &at in near {
        let mut i = at + 1;
        while s.words.get(i).is_some_and(|w| LINKS.contains(&w.as_str())) {
            i += 1;
        }
        let name: Vec<&str> = s.raw[i.min(s.raw.len())..]
            .iter()
            .take(4)
            .take_while(|w| w.chars().next().is_some_and(char::is_uppercase))
            .map(String::as_str)
            .collect();
        if !name.is_empty() {
            return Some(name.join(" "));
        }
    }
    None
}
