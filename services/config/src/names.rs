//! The names in paths and bodies: namespaces (`demo.themes`), keys (`default`), flag keys and
//! scopes (tier or environment names). Each parses or says what a valid one looks like.
use kit::Problem;

fn segment(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
}

/// A namespace: dot-separated segments of lower-case letters, digits and `_`, at most 64.
pub fn namespace(raw: &str) -> Result<String, Problem> {
    let ok = raw.len() <= 64 && raw.split('.').all(|s| segment(s, b"_"));
    ok.then(|| raw.to_string()).ok_or_else(|| {
        Problem::invalid(
            "namespace",
            "must be dot-separated lower-case words (letters, digits, _), at most 64 characters",
        )
    })
}

/// A document or flag key: lower-case letters, digits, `-` and `_`, at most 64.
pub fn key(field: &str, raw: &str) -> Result<String, Problem> {
    (raw.len() <= 64 && segment(raw, b"-_"))
        .then(|| raw.to_string())
        .ok_or_else(|| {
            Problem::invalid(
                field,
                "must be lower-case letters, digits, - and _, at most 64 characters",
            )
        })
}

/// A tier or environment name (as a key).
pub fn scope(raw: &str) -> Result<String, Problem> {
    key("scope", raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_for_their_shape() {
        assert!(namespace("demo.themes").is_ok());
        assert!(namespace("research.scraping_rules").is_ok());
        for bad in [
            "",
            "Demo",
            "demo..themes",
            "demo/themes",
            ".x",
            &"a".repeat(65),
        ] {
            assert!(namespace(bad).is_err(), "{bad}");
        }
        assert!(key("key", "acme-dark_2").is_ok());
        assert!(key("key", "-x").is_err());
        assert!(key("key", "a b").is_err());
    }
}
