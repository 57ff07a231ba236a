//! JSON Schema checks of configuration values: a compiled schema per namespace, and the
//! violations of a value, each naming the path of the value and the rule it breaks.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One way a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    /// JSON pointer of the offending value (`""` for the whole document).
    pub path: String,
    /// The schema keyword broken (`type`, `required`, `maximum`, …).
    pub rule: String,
    pub message: String,
}

/// A namespace's compiled schema. References resolve within the schema only: remote and file
/// references are refused when it is compiled (no network, no disk).
pub struct Schema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

/// At most this many violations are reported for one value.
const MAX_VIOLATIONS: usize = 20;

impl Schema {
    /// Compiles `schema`; `Err` says why it is not a usable JSON Schema.
    pub fn compile(schema: &Value) -> Result<Schema, String> {
        if !schema.is_object() {
            return Err("a schema must be a JSON object".into());
        }
        jsonschema::meta::validate(schema).map_err(|e| {
            format!(
                "not a valid JSON Schema at {}: {e}",
                pointer(e.instance_path())
            )
        })?;
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        Ok(Schema { validator })
    }

    /// The value's violations (empty when it conforms).
    pub fn check(&self, value: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(value)
            .take(MAX_VIOLATIONS)
            .map(|e| Violation {
                path: pointer(e.instance_path()),
                rule: e.kind().keyword().to_string(),
                message: e.to_string(),
            })
            .collect()
    }
}

fn pointer(loc: &jsonschema::paths::Location) -> String {
    loc.as_str().to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_violation_names_the_path_and_the_rule() {
        let s = Schema::compile(&json!({
            "type": "object",
            "properties": {"colors": {"type": "object", "properties": {"primary": {"type": "string", "pattern": "^#[0-9a-f]{6}$"}}}},
            "required": ["colors"]
        }))
        .expect("compiles");
        assert!(
            s.check(&json!({"colors": {"primary": "#aabbcc"}}))
                .is_empty()
        );
        let v = s.check(&json!({"colors": {"primary": "red"}}));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].path, "/colors/primary");
        assert_eq!(v[0].rule, "pattern");
        let v = s.check(&json!({}));
        assert_eq!(v[0].rule, "required");
    }

    #[test]
    fn remote_references_and_non_schemas_are_refused() {
        assert!(Schema::compile(&json!({"$ref": "https://example.com/s.json"})).is_err());
        assert!(Schema::compile(&json!({"type": "no-such-type"})).is_err());
        assert!(Schema::compile(&json!([1])).is_err());
    }
}
