//! The checks every chat model makes of a request before using it.
use super::{
    error::ChatError,
    types::{ChatRequest, Role, ToolChoice},
};

/// Most messages one request may carry.
const MAX_MESSAGES: usize = 1_000;
/// Most tools one request may offer (OpenAI's own limit is 128).
const MAX_TOOLS: usize = 128;

pub fn request(r: &ChatRequest) -> Result<(), ChatError> {
    let bad = |m: String| Err(ChatError::BadRequest(m));
    if r.messages.is_empty() {
        return bad("messages: at least one message is needed".into());
    }
    if r.messages.len() > MAX_MESSAGES {
        return bad(format!("messages: at most {MAX_MESSAGES}"));
    }
    if r.tools.len() > MAX_TOOLS {
        return bad(format!("tools: at most {MAX_TOOLS}"));
    }
    for (i, m) in r.messages.iter().enumerate() {
        if m.role == Role::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
            return bad(format!(
                "messages[{i}]: a tool message needs its tool_call_id"
            ));
        }
    }
    for (i, t) in r.tools.iter().enumerate() {
        if !tool_name_ok(&t.name) {
            return bad(format!(
                "tools[{i}].name: 1–64 letters, digits, `_` or `-` (got `{}`)",
                t.name.chars().take(80).collect::<String>()
            ));
        }
        if r.tools[..i].iter().any(|o| o.name == t.name) {
            return bad(format!("tools[{i}].name: `{}` is offered twice", t.name));
        }
        if !t.parameters.is_object() {
            return bad(format!(
                "tools[{i}].parameters: a JSON Schema object is needed"
            ));
        }
    }
    if let ToolChoice::Tool(name) = &r.tool_choice
        && !r.tools.iter().any(|t| &t.name == name)
    {
        return bad(format!("tool_choice: `{name}` is not among the tools"));
    }
    if let Some(t) = r.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return bad("temperature: between 0 and 2".into());
    }
    if r.max_tokens == Some(0) {
        return bad("max_tokens: at least 1".into());
    }
    Ok(())
}

fn tool_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
