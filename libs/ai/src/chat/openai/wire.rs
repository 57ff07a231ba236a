//! The OpenAI chat-completions wire format, read leniently: every field providers omit or send
//! as `null` is optional, `finish_reason` is any string, tool-call arguments may come as a
//! string (the spec) or an object (some servers), a tool-call delta may lack `index`.
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::types::{ChatRequest, Message, Passage, Role, ToolChoice};

/// The body of `POST /v1/chat/completions`.
pub fn request(r: &ChatRequest, model: &str, stream: bool, max_tokens: u32) -> Value {
    let mut body = json!({
        "model": model,
        "messages": messages(&r.messages, &r.context),
        "max_tokens": r.max_tokens.unwrap_or(max_tokens),
        "stream": stream,
    });
    if stream {
        // Usage arrives in a last chunk with empty `choices` (OpenAI, vLLM, Ollama ≥ 0.5).
        body["stream_options"] = json!({"include_usage": true});
    }
    if let Some(t) = r.temperature {
        body["temperature"] = json!(t);
    }
    if !r.tools.is_empty() {
        body["tools"] = r
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        body["tool_choice"] = match &r.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
    }
    body
}

fn messages(messages: &[Message], context: &[Passage]) -> Vec<Value> {
    let mut out = Vec::with_capacity(messages.len() + 1);
    // The context goes after the leading system messages, before the conversation.
    let lead = messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    out.extend(messages[..lead].iter().map(message));
    if !context.is_empty() {
        let mut text =
            String::from("Answer only from this context; cite the source in brackets.\n");
        for p in context {
            text.push_str(&format!("[{}] {}\n", p.source, p.text));
        }
        out.push(json!({"role": "system", "content": text}));
    }
    out.extend(messages[lead..].iter().map(message));
    out
}

fn message(m: &Message) -> Value {
    match m.role {
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id,
            "content": m.content,
        }),
        Role::Assistant if !m.tool_calls.is_empty() => json!({
            "role": "assistant",
            "content": if m.content.is_empty() { Value::Null } else { json!(m.content) },
            "tool_calls": m.tool_calls.iter().map(|c| json!({
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments.to_string()},
            })).collect::<Vec<_>>(),
        }),
        role => json!({"role": role, "content": m.content}),
    }
}

/// Arguments as the provider sent them, as the JSON text to parse.
pub fn arguments_text(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Completion {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub message: Option<WireMessage>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
pub struct WireToolCall {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<WireFunction>,
}

#[derive(Debug, Deserialize)]
pub struct WireFunction {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub completion_tokens: Option<u32>,
}

/// One `data:` chunk of a streamed answer.
#[derive(Debug, Deserialize)]
pub struct Chunk {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// Some servers report a failure mid-stream as a chunk `{"error": …}`.
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub delta: Option<Delta>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Delta {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
}

/// The provider's words from an error body: `{"error": {"message": …}}` (OpenAI, vLLM) or
/// `{"error": "…"}` (Ollama), else the start of the body.
pub fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let msg = parsed.as_ref().and_then(|v| match v.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(e) => e.get("message").and_then(Value::as_str).map(str::to_string),
        None => v.get("message").and_then(Value::as_str).map(str::to_string),
    });
    let msg = msg.unwrap_or_else(|| body.to_string());
    msg.chars().take(500).collect()
}
