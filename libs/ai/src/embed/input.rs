//! The input rules every embedder applies, so a caller sees the same refusal from each.
use super::EmbedError;

/// Most texts one call may embed (callers batch larger sets themselves).
pub const MAX_TEXTS: usize = 4096;
/// Longest text, in bytes, one call accepts. The local model reads only its first 256 word
/// pieces; providers cap input at a few thousand tokens.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Refuses empty texts, oversized texts and oversized calls, naming the offending text.
pub fn check(texts: &[String]) -> Result<(), EmbedError> {
    if texts.len() > MAX_TEXTS {
        return Err(EmbedError::Input(format!(
            "{} texts in one call; at most {MAX_TEXTS}",
            texts.len()
        )));
    }
    for (i, t) in texts.iter().enumerate() {
        if t.trim().is_empty() {
            return Err(EmbedError::Input(format!("text {i} is empty")));
        }
        if t.len() > MAX_TEXT_BYTES {
            return Err(EmbedError::Input(format!(
                "text {i} is {} bytes; at most {MAX_TEXT_BYTES}",
                t.len()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_text_is_refused_by_its_index() {
        let err = check(&["fine".into(), "  ".into()]).expect_err("refused");
        assert!(err.to_string().contains("text 1 is empty"), "{err}");
    }

    #[test]
    fn an_oversized_text_is_refused() {
        let big = "a".repeat(MAX_TEXT_BYTES + 1);
        let err = check(&[big]).expect_err("refused");
        assert!(err.to_string().contains("text 0 is"), "{err}");
    }

    #[test]
    fn ordinary_texts_pass() {
        assert!(check(&["one".into(), "two".into()]).is_ok());
    }
}
