//! Layers and the merge of a document's layers into its effective value, recording for every
//! value the layer it came from. Later layers override earlier ones by JSON Merge Patch
//! (RFC 7386): objects merge key by key, anything else replaces, `null` removes.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a document sits, from the most general to the most specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The platform's defaults (platform admins).
    Default,
    /// A subscription tier's values (platform admins).
    Tier,
    /// One organisation's values (its admins).
    Tenant,
    /// One organisation's values for one environment (its admins).
    Environment,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Default => "default",
            Layer::Tier => "tier",
            Layer::Tenant => "tenant",
            Layer::Environment => "environment",
        }
    }

    /// Whether the layer belongs to the platform rather than to one organisation.
    pub fn is_platform(self) -> bool {
        matches!(self, Layer::Default | Layer::Tier)
    }

    /// Whether the layer is named by a scope (the tier or the environment).
    pub fn is_scoped(self) -> bool {
        matches!(self, Layer::Tier | Layer::Environment)
    }
}

/// Where one value of an effective document came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    pub layer: Layer,
    /// The tier or environment name; empty for the default and tenant layers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub version: i32,
}

/// A document's effective value and, per JSON pointer of every leaf, its source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    pub value: Value,
    pub sources: BTreeMap<String, Source>,
}

/// Merges `layers` (most general first) into one value with its provenance.
pub fn merge<'a>(layers: impl IntoIterator<Item = (Source, &'a Value)>) -> Merged {
    let mut out = Merged {
        value: Value::Object(Map::new()),
        sources: BTreeMap::new(),
    };
    for (source, value) in layers {
        apply(&mut out.value, value, "", &source, &mut out.sources);
    }
    out
}

/// Merge-patches `patch` into `target` at `path`, recording `source` for each leaf it sets.
fn apply(
    target: &mut Value,
    patch: &Value,
    path: &str,
    source: &Source,
    sources: &mut BTreeMap<String, Source>,
) {
    let Value::Object(patch) = patch else {
        forget_under(sources, path);
        *target = patch.clone();
        sources.insert(path.to_string(), source.clone());
        return;
    };
    if !target.is_object() {
        forget_under(sources, path);
        *target = Value::Object(Map::new());
    }
    sources.remove(path);
    let Value::Object(map) = target else { return };
    for (k, v) in patch {
        let child = format!("{path}/{}", escape(k));
        if v.is_null() {
            map.remove(k);
            forget_under(sources, &child);
            continue;
        }
        let slot = map.entry(k.clone()).or_insert(Value::Null);
        apply(slot, v, &child, source, sources);
    }
    if map.is_empty() && !path.is_empty() {
        sources.insert(path.to_string(), source.clone());
    }
}

fn forget_under(sources: &mut BTreeMap<String, Source>, path: &str) {
    let prefix = format!("{path}/");
    sources.retain(|k, _| k != path && !k.starts_with(&prefix));
}

/// A JSON pointer token (RFC 6901).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// One difference between two values, at a JSON pointer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub op: ChangeOp,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Add,
    Remove,
    Replace,
}

/// The changes that turn `a` into `b`: objects are compared key by key, anything else whole.
pub fn diff(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff_at(a, b, "", &mut out);
    out
}

fn diff_at(a: &Value, b: &Value, path: &str, out: &mut Vec<Change>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let child = format!("{path}/{}", escape(k));
                match y.get(k) {
                    Some(vb) => diff_at(va, vb, &child, out),
                    None => out.push(Change {
                        op: ChangeOp::Remove,
                        path: child,
                        from: Some(va.clone()),
                        to: None,
                    }),
                }
            }
            for (k, vb) in y {
                if !x.contains_key(k) {
                    out.push(Change {
                        op: ChangeOp::Add,
                        path: format!("{path}/{}", escape(k)),
                        from: None,
                        to: Some(vb.clone()),
                    });
                }
            }
        }
        _ if a == b => {}
        _ => out.push(Change {
            op: ChangeOp::Replace,
            path: path.to_string(),
            from: Some(a.clone()),
            to: Some(b.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn src(layer: Layer, version: i32) -> Source {
        Source {
            layer,
            scope: String::new(),
            version,
        }
    }

    #[test]
    fn a_tenant_value_overrides_the_default_and_says_so() {
        let d = json!({"colors": {"primary": "#000", "accent": "#111"}, "font": "Inter"});
        let t = json!({"colors": {"primary": "#f00"}, "font": null});
        let m = merge([(src(Layer::Default, 1), &d), (src(Layer::Tenant, 3), &t)]);
        assert_eq!(
            m.value,
            json!({"colors": {"primary": "#f00", "accent": "#111"}})
        );
        assert_eq!(m.sources["/colors/primary"], src(Layer::Tenant, 3));
        assert_eq!(m.sources["/colors/accent"], src(Layer::Default, 1));
        assert!(
            !m.sources.contains_key("/font"),
            "removed values have no source"
        );
    }

    #[test]
    fn a_scalar_replacing_an_object_drops_the_object_sources() {
        let d = json!({"a": {"b": 1, "c": 2}});
        let t = json!({"a": [1, 2]});
        let m = merge([(src(Layer::Default, 1), &d), (src(Layer::Tenant, 1), &t)]);
        assert_eq!(m.value, json!({"a": [1, 2]}));
        assert_eq!(m.sources.len(), 1);
        assert_eq!(m.sources["/a"].layer, Layer::Tenant);
    }

    #[test]
    fn the_diff_names_every_added_removed_and_replaced_path() {
        let a = json!({"x": 1, "y": {"z": "a/b"}, "gone": true});
        let b = json!({"x": 2, "y": {"z": "a/b", "n": 1}});
        let d = diff(&a, &b);
        let ops: Vec<(ChangeOp, &str)> = d.iter().map(|c| (c.op, c.path.as_str())).collect();
        assert_eq!(
            ops,
            vec![
                (ChangeOp::Remove, "/gone"),
                (ChangeOp::Replace, "/x"),
                (ChangeOp::Add, "/y/n")
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }
}
