//! A simple tokenizer: runs of letters/digits are one token each, every other non-space
//! character is one. It is not a provider's BPE; it serves the local model's usage figures,
//! the estimate a budget reserves before a call and the estimate used when a provider reports
//! no usage (BPE counts of English prose are of the same order).
use super::types::{ChatRequest, Message};

/// The tokens of `text`.
pub fn count(text: &str) -> u32 {
    let n = pieces(text).filter(|p| !p.trim().is_empty()).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `text` split into streaming pieces: each token with the whitespace after it, so the pieces
/// concatenate back to `text` exactly.
pub fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        let mut end = first.len_utf8();
        if first.is_alphanumeric() {
            end = rest
                .char_indices()
                .find(|(_, c)| !c.is_alphanumeric())
                .map_or(rest.len(), |(i, _)| i);
        }
        // The whitespace after the token travels with it.
        end += rest[end..]
            .char_indices()
            .find(|(_, c)| !c.is_whitespace())
            .map_or(rest.len() - end, |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// The prompt's tokens: every message, the tools' definitions and the context, plus a few per
/// message for the roles (as chat templates add).
pub fn prompt(request: &ChatRequest) -> u32 {
    let messages: u32 = request.messages.iter().map(message).sum();
    let tools: u32 = request
        .tools
        .iter()
        .map(|t| count(&t.name) + count(&t.description) + count(&t.parameters.to_string()))
        .sum();
    let context: u32 = request
        .context
        .iter()
        .map(|p| count(&p.source) + count(&p.text) + 4)
        .sum();
    messages.saturating_add(tools).saturating_add(context)
}

fn message(m: &Message) -> u32 {
    let calls: u32 = m
        .tool_calls
        .iter()
        .map(|c| count(&c.name) + count(&c.arguments.to_string()))
        .sum();
    count(&m.content) + calls + 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_back_to_the_text() {
        let text = "Order ORD-1234 ships on 2024-05-03, to ana@acme.com.  Done!";
        assert_eq!(pieces(text).collect::<String>(), text);
        assert_eq!(count("Order ORD-1234"), 4);
        assert_eq!(count(""), 0);
    }
}
