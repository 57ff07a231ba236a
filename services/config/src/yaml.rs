//! Reading a document's text: JSON, or YAML with a parsing budget (serde-saphyr), so anchors
//! that expand exponentially ("billion laughs"), deep nesting or huge inputs are refused with a
//! typed error instead of exhausting the process.
use serde_json::Value;

/// The largest document text accepted (the request limit is larger).
pub const MAX_BYTES: usize = 256 * 1024;

/// The budget: generous for configuration, small against amplification.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 100_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_recorded_anchor_events = 50_000;
    budget.max_recorded_anchor_bytes = 1024 * 1024;
    budget.max_nodes = 50_000;
    budget.max_depth = 32;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_BYTES;
    budget.max_merge_keys = 1_000;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts
}

/// Parses YAML text into a JSON value; `Err` says why (without echoing the input).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    if text.len() > MAX_BYTES {
        return Err(format!("the document is over {MAX_BYTES} bytes"));
    }
    let value: Value = serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        let msg = e.to_string();
        // The parser's message may quote the input; keep its first line, which names the
        // cause and position.
        msg.lines().next().unwrap_or("unreadable YAML").to_string()
    })?;
    depth_ok(&value, 0)
        .then_some(value)
        .ok_or_else(|| "the document is nested more than 32 levels deep".into())
}

fn depth_ok(v: &Value, d: usize) -> bool {
    if d > 32 {
        return false;
    }
    match v {
        Value::Array(a) => a.iter().all(|x| depth_ok(x, d + 1)),
        Value::Object(o) => o.values().all(|x| depth_ok(x, d + 1)),
        _ => true,
    }
}

/// A JSON value's nesting is bounded the same way.
pub fn json_ok(v: &Value) -> Result<(), String> {
    depth_ok(v, 0)
        .then_some(())
        .ok_or_else(|| "the document is nested more than 32 levels deep".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_become_json_values() {
        let v =
            parse_yaml("colors:\n  primary: '#112233'\nsizes: [1, 2]\nbase: &b {x: 1}\ncopy: *b\n")
                .expect("parses");
        assert_eq!(v["colors"]["primary"], "#112233");
        assert_eq!(v["copy"]["x"], 1);
    }

    #[test]
    fn a_billion_laughs_is_refused_quickly() {
        let mut doc = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            doc.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(",")));
        }
        let started = std::time::Instant::now();
        assert!(parse_yaml(&doc).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn broken_and_multi_document_yaml_is_refused() {
        assert!(parse_yaml("a: [1, 2").is_err());
        assert!(parse_yaml("a: 1\n---\nb: 2\n").is_err());
        assert!(parse_yaml(&"[".repeat(100)).is_err());
    }
}
