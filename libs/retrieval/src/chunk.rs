//! Chunking: a document is split at its headings (Markdown `#`…`######`, outside code fences)
//! into sections, each section into sentences, and sentences are packed into chunks of at most
//! `max_chars` characters, each repeating the previous chunk's last sentences up to
//! `overlap_chars`. Every chunk is an exact slice of the document: `&doc[start..end] == text`
//! (byte offsets), so a citation can point back into the source.
use serde::{Deserialize, Serialize};

/// Chunk sizes, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    pub max_chars: usize,
    pub overlap_chars: usize,
}

impl Default for ChunkConfig {
    /// About 200 word pieces per chunk: under the local model's 256-piece window.
    fn default() -> Self {
        ChunkConfig {
            max_chars: 800,
            overlap_chars: 160,
        }
    }
}

/// One piece of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position among the document's chunks, from 0.
    pub index: usize,
    pub text: String,
    /// Byte offsets into the original document.
    pub start: usize,
    pub end: usize,
    /// The headings the chunk sits under, outermost first, joined by " > ".
    pub heading: Option<String>,
}

/// A byte range of the document.
type Span = (usize, usize);

/// The heading level and title of a Markdown ATX heading line.
fn heading_of(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let hashes = trimmed.bytes().take_while(|b| *b == b'#').count();
    let rest = &trimmed[hashes..];
    if (1..=6).contains(&hashes) && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
        Some((hashes, rest.trim().trim_end_matches('#').trim()))
    } else {
        None
    }
}

/// Sections: (heading path, span), in document order.
fn sections(doc: &str) -> Vec<(Option<String>, Span)> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let (mut start, mut pos, mut in_fence) = (0usize, 0usize, false);
    let mut current: Option<String> = None;
    for line in doc.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if let Some((level, title)) = heading_of(line).filter(|_| !in_fence) {
            if pos > start {
                out.push((current.clone(), (start, pos)));
            }
            path.retain(|(l, _)| *l < level);
            path.push((level, title.to_owned()));
            let joined: Vec<&str> = path.iter().map(|(_, t)| t.as_str()).collect();
            current = Some(joined.join(" > "));
            start = pos;
        }
        pos += line.len();
    }
    if doc.len() > start {
        out.push((current, (start, doc.len())));
    }
    out
}

/// Sentences of `doc[span]`, trimmed of surrounding whitespace: a sentence ends after `.`, `!`
/// or `?` (and any closing quotes or brackets) followed by whitespace, and at every line break
/// that ends a heading, a list item or a paragraph.
fn sentences(doc: &str, (from, to): Span) -> Vec<Span> {
    let text = &doc[from..to];
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let end_here = match c {
            '.' | '!' | '?' => next.is_none_or(char::is_whitespace),
            '"' | '\'' | ')' | ']' | '”' | '’' => {
                next.is_none_or(char::is_whitespace) && text[..i].ends_with(['.', '!', '?'])
            }
            '\n' => {
                let line_start = text[..i].rfind('\n').map_or(0, |p| p + 1);
                let line = &text[line_start..i];
                next == Some('\n')
                    || heading_of(line).is_some()
                    || next.is_none()
                    || text[i + 1..].trim_start().starts_with(['-', '*', '#', '|'])
            }
            _ => false,
        };
        if end_here {
            push_trimmed(&mut out, text, from, (start, i + c.len_utf8()));
            start = i + c.len_utf8();
        }
    }
    push_trimmed(&mut out, text, from, (start, text.len()));
    out
}

fn push_trimmed(out: &mut Vec<Span>, text: &str, base: usize, (s, e): Span) {
    let piece = &text[s..e];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if lead + trail < piece.len() {
        out.push((base + s + lead, base + e - trail));
    }
}

/// Splits a span longer than `max` characters at whitespace (or, in a run without any, at a
/// character boundary) into spans of at most `max` characters.
fn split_long(doc: &str, (from, to): Span, max: usize) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = from;
    while doc[start..to].chars().count() > max {
        let window_end = doc[start..to]
            .char_indices()
            .nth(max)
            .map_or(to, |(i, _)| start + i);
        let cut = doc[start..window_end]
            .rfind(char::is_whitespace)
            .map(|i| start + i)
            .filter(|c| *c > start)
            .unwrap_or(window_end);
        push_trimmed(&mut out, doc, 0, (start, cut));
        start = cut;
        start += doc[start..].len() - doc[start..].trim_start().len();
    }
    push_trimmed(&mut out, doc, 0, (start, to));
    out
}

fn chars(doc: &str, (s, e): Span) -> usize {
    doc[s..e].chars().count()
}

/// Splits `doc` into chunks (see the module).
pub fn chunk(doc: &str, cfg: &ChunkConfig) -> Vec<Chunk> {
    let max = cfg.max_chars.max(1);
    let overlap = cfg.overlap_chars.min(max / 2);
    let mut out: Vec<Chunk> = Vec::new();
    for (heading, span) in sections(doc) {
        let pieces: Vec<Span> = sentences(doc, span)
            .into_iter()
            .flat_map(|s| split_long(doc, s, max))
            .collect();
        let mut i = 0;
        while i < pieces.len() {
            // Take sentences while the chunk (from the first one's start) stays within max.
            let first = pieces[i].0;
            let mut j = i + 1;
            while j < pieces.len() && chars(doc, (first, pieces[j].1)) <= max {
                j += 1;
            }
            let (start, end) = (first, pieces[j - 1].1);
            out.push(Chunk {
                index: out.len(),
                text: doc[start..end].to_owned(),
                start,
                end,
                heading: heading.clone(),
            });
            if j == pieces.len() {
                break;
            }
            // The next chunk starts with the last sentences that fit in the overlap and leave
            // room for the next new sentence, and always moves forward by at least one.
            let mut k = j;
            while k > i + 1
                && chars(doc, (pieces[k - 1].0, end)) <= overlap
                && chars(doc, (pieces[k - 1].0, pieces[j].1)) <= max
            {
                k -= 1;
            }
            i = k;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Pricing\n\nThe base plan costs 40 € a month. Support is included!\n\
        Discounts apply to annual contracts.\n\n## Enterprise\n\nEnterprise customers get \
        a named contact. They also get single sign-on. Ask sales for a quote?\n\n\
        ```\n# not a heading\n```\n\n# Security\n\nAll data is encrypted at rest.\n";

    fn assert_slices_back(doc: &str, chunks: &[Chunk]) {
        for c in chunks {
            assert_eq!(&doc[c.start..c.end], c.text, "chunk {}", c.index);
        }
    }

    #[test]
    fn offsets_slice_back_to_the_chunk_text() {
        let chunks = chunk(
            DOC,
            &ChunkConfig {
                max_chars: 60,
                overlap_chars: 20,
            },
        );
        assert!(chunks.len() > 4, "{chunks:#?}");
        assert_slices_back(DOC, &chunks);
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.index, i);
            assert!(c.text.chars().count() <= 60, "{:?}", c.text);
        }
    }

    #[test]
    fn chunks_never_cross_a_heading_and_carry_their_heading_path() {
        let chunks = chunk(DOC, &ChunkConfig::default());
        let headings: Vec<Option<&str>> = chunks.iter().map(|c| c.heading.as_deref()).collect();
        assert_eq!(
            headings,
            vec![
                Some("Pricing"),
                Some("Pricing > Enterprise"),
                Some("Security")
            ]
        );
        // The fenced "# not a heading" stays inside the Enterprise section.
        assert!(chunks[1].text.contains("# not a heading"));
        assert!(chunks[2].text.starts_with("# Security"));
    }

    #[test]
    fn consecutive_chunks_overlap_by_whole_sentences() {
        let doc = "One is first. Two comes next. Three follows. Four is here. Five ends it.";
        let chunks = chunk(
            doc,
            &ChunkConfig {
                max_chars: 30,
                overlap_chars: 15,
            },
        );
        assert_slices_back(doc, &chunks);
        assert_eq!(chunks[0].text, "One is first. Two comes next.");
        assert_eq!(chunks[1].text, "Two comes next. Three follows.");
        assert!(
            chunks
                .last()
                .is_some_and(|c| c.text.ends_with("Five ends it."))
        );
    }

    #[test]
    fn a_sentence_longer_than_a_chunk_is_split_at_whitespace_and_multibyte_text_is_safe() {
        let doc = format!("{} {}", "größe ".repeat(40), "日本語の文章".repeat(30));
        let chunks = chunk(
            &doc,
            &ChunkConfig {
                max_chars: 50,
                overlap_chars: 10,
            },
        );
        assert_slices_back(&doc, &chunks);
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 50));
        assert!(chunks.len() >= 8);
    }

    #[test]
    fn empty_and_blank_documents_have_no_chunks() {
        assert!(chunk("", &ChunkConfig::default()).is_empty());
        assert!(chunk(" \n\n\t", &ChunkConfig::default()).is_empty());
        assert!(chunk("# Only a heading", &ChunkConfig::default()).len() == 1);
    }
}
