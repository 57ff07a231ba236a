//! Tool calls from a provider's pieces: deltas keyed by `index` (the id and name in the first,
//! the arguments split anywhere, even mid-string) assembled into whole calls, each checked
//! against the request's tools and its arguments parsed.
use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    error::ChatError,
    types::{ToolCall, ToolDef},
};

/// The largest arguments string accepted for one call.
const MAX_ARGUMENTS: usize = 256 * 1024;

#[derive(Debug, Default)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
}

/// Collects tool-call deltas of one streamed answer.
#[derive(Debug, Default)]
pub struct Assembler {
    calls: BTreeMap<u32, Partial>,
}

impl Assembler {
    /// One delta. Providers repeat neither id nor name after the first piece; some (vLLM)
    /// resend the id, some (older Ollama) send whole calls without `index`.
    pub fn push(
        &mut self,
        index: u32,
        id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) -> Result<(), ChatError> {
        let call = self.calls.entry(index).or_default();
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            call.id = id.to_string();
        }
        if let Some(name) = name.filter(|s| !s.is_empty()) {
            // A name arriving in pieces is appended; a repeated whole name is not doubled.
            if call.name != name {
                call.name.push_str(name);
            }
        }
        if let Some(args) = arguments {
            if call.arguments.len() + args.len() > MAX_ARGUMENTS {
                return Err(ChatError::Malformed(format!(
                    "tool call arguments exceed {MAX_ARGUMENTS} bytes"
                )));
            }
            call.arguments.push_str(args);
        }
        Ok(())
    }

    /// The whole calls, in index order, each checked against `tools`.
    pub fn finish(self, tools: &[ToolDef]) -> Result<Vec<ToolCall>, ChatError> {
        self.calls
            .into_values()
            .enumerate()
            .map(|(i, p)| {
                let id = if p.id.is_empty() {
                    format!("call_{i}")
                } else {
                    p.id
                };
                check(tools, id, &p.name, &p.arguments)
            })
            .collect()
    }
}

/// One call, checked: the tool must be one the request offered, the arguments a JSON object
/// (an empty string is no arguments, as providers send for a tool without parameters).
pub fn check(
    tools: &[ToolDef],
    id: String,
    name: &str,
    arguments: &str,
) -> Result<ToolCall, ChatError> {
    if name.is_empty() {
        return Err(ChatError::Malformed("a tool call without a name".into()));
    }
    if !tools.iter().any(|t| t.name == name) {
        return Err(ChatError::UnknownTool(name.to_string()));
    }
    let arguments = if arguments.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str::<Value>(arguments).map_err(|e| ChatError::BadToolArguments {
            tool: name.to_string(),
            reason: e.to_string(),
        })?
    };
    if !arguments.is_object() {
        return Err(ChatError::BadToolArguments {
            tool: name.to_string(),
            reason: "the arguments are not a JSON object".into(),
        });
    }
    Ok(ToolCall {
        id,
        name: name.to_string(),
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Vec<ToolDef> {
        vec![ToolDef::new(
            "get_order",
            "Look up an order",
            json!({"type": "object"}),
        )]
    }

    #[test]
    fn arguments_split_mid_string_are_joined() {
        let mut a = Assembler::default();
        a.push(0, Some("call_1"), Some("get_order"), Some(""))
            .expect("push");
        a.push(0, None, None, Some("{\"order_id\": \"OR"))
            .expect("push");
        a.push(0, None, None, Some("D-12\"}")).expect("push");
        let calls = a.finish(&tools()).expect("whole");
        assert_eq!(calls[0].arguments, json!({"order_id": "ORD-12"}));
        assert_eq!(calls[0].id, "call_1");
    }

    #[test]
    fn an_unknown_tool_and_bad_json_are_refused() {
        assert_eq!(
            check(&tools(), "c".into(), "drop_db", "{}"),
            Err(ChatError::UnknownTool("drop_db".into()))
        );
        assert!(matches!(
            check(&tools(), "c".into(), "get_order", "{\"order_id\": "),
            Err(ChatError::BadToolArguments { .. })
        ));
        assert!(matches!(
            check(&tools(), "c".into(), "get_order", "[1]"),
            Err(ChatError::BadToolArguments { .. })
        ));
    }
}
