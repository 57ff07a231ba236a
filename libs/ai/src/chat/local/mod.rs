//! The local chat model: deterministic, grounded and honest about what it is.
//!
//! For the request's last user message it
//! 1. answers from the tool results, if tools have answered since that message: it quotes their
//!    fields (those the question names first) and any context that bears on the question;
//! 2. else picks the tool whose name and description are most similar to the message (cosine of
//!    the embedder's vectors) if that similarity reaches the tool threshold, and fills the
//!    arguments from the message by the tool's schema ([`extract_arguments`]); a required
//!    argument it cannot find is asked for instead of calling;
//! 3. else quotes the context sentences (the request's passages and its system messages) whose
//!    similarity to the message reaches the context threshold, with their sources;
//! 4. else says it cannot help with that, listing what its tools do.
//!
//! Tool descriptions and context sentences are embedded once and cached, so a request costs
//! one embedding of its message. Usage counts are the library's simple token count
//! ([`tokens`](crate::chat::tokens)); the cost is zero. The answer streams piece by piece like a
//! provider's.
use std::{sync::Arc, time::Instant};

use async_trait::async_trait;

use super::{
    ChatModel, ChatStream,
    error::ChatError,
    tokens,
    types::{
        ChatEvent, ChatRequest, ChatResponse, FinishReason, Message, Passage, Role, ToolCall,
        ToolChoice, ToolDef, Usage,
    },
    validate,
};
use crate::embed::Embedder;

mod answer;
mod extract;
mod scan;
mod vectors;

pub use extract::{Extracted, extract_arguments};
use vectors::{Vectors, cosine};

/// The model name the local model reports.
pub const LOCAL_MODEL_NAME: &str = "local-grounded";
/// Most context sentences compared per request.
const MAX_SENTENCES: usize = 64;
/// Most context sentences quoted.
const MAX_QUOTED: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalConfig {
    /// Least cosine between the message and a tool's name and description for the tool to be
    /// called (`FLEET_LLM_LOCAL_TOOL_THRESHOLD`).
    pub tool_threshold: f32,
    /// Least cosine between the message and a context sentence for it to be quoted
    /// (`FLEET_LLM_LOCAL_CONTEXT_THRESHOLD`).
    pub context_threshold: f32,
}

impl Default for LocalConfig {
    /// Measured with all-MiniLM-L6-v2 (this library and sentence-transformers agree): requests
    /// paraphrasing one of five tools score 0.36–0.69 against it, unrelated requests at most
    /// 0.25 against any. Context sentences that answer a question score about 0.75, related
    /// ones about 0.43 (quoted after the answering ones), unrelated ones below 0.12.
    fn default() -> Self {
        LocalConfig {
            tool_threshold: 0.30,
            context_threshold: 0.35,
        }
    }
}

impl LocalConfig {
    pub fn from_env() -> Result<Self, ChatError> {
        let mut c = LocalConfig::default();
        for (key, into) in [
            ("FLEET_LLM_LOCAL_TOOL_THRESHOLD", &mut c.tool_threshold),
            (
                "FLEET_LLM_LOCAL_CONTEXT_THRESHOLD",
                &mut c.context_threshold,
            ),
        ] {
            if let Ok(v) = std::env::var(key) {
                *into = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|t| (-1.0..=1.0).contains(t))
                    .ok_or_else(|| ChatError::Config(format!("{key}: a number from -1 to 1")))?;
            }
        }
        Ok(c)
    }
}

pub struct LocalModel {
    vectors: Vectors,
    cfg: LocalConfig,
}

/// What the model decided to say.
struct Reply {
    text: String,
    calls: Vec<ToolCall>,
    finish: FinishReason,
}

impl Reply {
    fn text(text: String) -> Self {
        Reply {
            text,
            calls: Vec::new(),
            finish: FinishReason::Stop,
        }
    }
}

impl LocalModel {
    pub fn new(embedder: Arc<dyn Embedder>, cfg: LocalConfig) -> Self {
        LocalModel {
            vectors: Vectors::new(embedder),
            cfg,
        }
    }

    async fn reply(&self, r: &ChatRequest) -> Result<Reply, ChatError> {
        validate::request(r)?;
        let last_user = r.messages.iter().rposition(|m| m.role == Role::User);
        let Some(at) = last_user else {
            return Ok(Reply::text(answer::cannot_help(&r.tools)));
        };
        let question = r.messages[at].content.trim();
        let since = &r.messages[at + 1..];
        if since.iter().any(|m| m.role == Role::Tool) {
            return self.answer_results(r, question, since).await;
        }
        if question.is_empty() {
            return Ok(Reply::text(answer::cannot_help(&r.tools)));
        }
        if let Some(reply) = self.call_tool(r, question).await? {
            return Ok(reply);
        }
        // A reply to the model's question for a missing argument ("ORD-1234") completes the
        // request it answers: the open request's user messages are tried together.
        let open = open_request(&r.messages);
        if open != question
            && let Some(reply) = self.call_tool(r, &open).await?
        {
            return Ok(reply);
        }
        match self.context(r, question).await? {
            Some(text) => Ok(Reply::text(text)),
            None => Ok(Reply::text(answer::cannot_help(&r.tools))),
        }
    }

    async fn answer_results(
        &self,
        r: &ChatRequest,
        question: &str,
        since: &[Message],
    ) -> Result<Reply, ChatError> {
        let mut parts: Vec<String> = since
            .iter()
            .filter(|m| m.role == Role::Tool)
            .map(|m| {
                let id = m.tool_call_id.as_deref().unwrap_or("");
                let tool = answer::tool_of(&r.messages, id).unwrap_or("the tool");
                answer::from_result(tool, &m.content, question)
            })
            .collect();
        if !question.is_empty()
            && let Some(text) = self.context(r, question).await?
        {
            parts.push(text);
        }
        Ok(Reply::text(parts.join(" ")))
    }

    /// The tool to call for `question`, with its arguments — or the question for what is
    /// missing; `None` when no tool fits.
    async fn call_tool(&self, r: &ChatRequest, question: &str) -> Result<Option<Reply>, ChatError> {
        if r.tools.is_empty() || r.tool_choice == ToolChoice::None {
            return Ok(None);
        }
        let scores = self.tool_scores(question, &r.tools).await?;
        let scored = scores.into_iter().enumerate();
        let best = match &r.tool_choice {
            ToolChoice::Tool(name) => r.tools.iter().position(|t| &t.name == name),
            choice => scored
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|(_, s)| *s >= self.cfg.tool_threshold || *choice == ToolChoice::Required)
                .map(|(i, _)| i),
        };
        let Some(i) = best else { return Ok(None) };
        let tool = &r.tools[i];
        let found = extract_arguments(&tool.parameters, question);
        if !found.missing.is_empty() {
            return Ok(Some(Reply::text(answer::ask(tool, &found.missing))));
        }
        let arguments = serde_json::Value::Object(found.arguments);
        let id = call_id(&tool.name, &arguments, r.messages.len());
        Ok(Some(Reply {
            text: String::new(),
            calls: vec![ToolCall {
                id,
                name: tool.name.clone(),
                arguments,
            }],
            finish: FinishReason::ToolCalls,
        }))
    }

    /// The similarity of `question` to each tool's name and description, in order (what the
    /// pick compares with the tool threshold).
    pub async fn tool_scores(
        &self,
        question: &str,
        tools: &[ToolDef],
    ) -> Result<Vec<f32>, ChatError> {
        let texts: Vec<String> = tools
            .iter()
            .map(|t| {
                format!(
                    "{}: {}",
                    scan::ident_words(&t.name).join(" "),
                    t.description
                )
            })
            .collect();
        let (q, vs) = self.vectors.embed(question, &texts).await?;
        Ok(vs.iter().map(|v| cosine(&q, v)).collect())
    }

    /// The context sentences that bear on `question`, quoted; `None` when none does.
    async fn context(&self, r: &ChatRequest, question: &str) -> Result<Option<String>, ChatError> {
        let system: Vec<Passage> = r
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| Passage {
                source: "system".into(),
                text: m.content.clone(),
            })
            .collect();
        let sentences: Vec<(&Passage, &str)> = r
            .context
            .iter()
            .chain(&system)
            .flat_map(|p| sentences(&p.text).map(move |s| (p, s)))
            .take(MAX_SENTENCES)
            .collect();
        if sentences.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = sentences.iter().map(|(_, s)| s.to_string()).collect();
        let (q, vs) = self.vectors.embed(question, &texts).await?;
        let mut scored: Vec<(f32, usize)> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| (cosine(&q, v), i))
            .filter(|(s, _)| *s >= self.cfg.context_threshold)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let chosen: Vec<(&Passage, &str)> = scored
            .iter()
            .take(MAX_QUOTED)
            .map(|(_, i)| sentences[*i])
            .collect();
        Ok((!chosen.is_empty()).then(|| answer::from_context(&chosen)))
    }
}

/// The user messages of the request still open: those since the last tool call or result (at
/// most three), oldest first, joined.
fn open_request(messages: &[Message]) -> String {
    let mut open: Vec<&str> = messages
        .iter()
        .rev()
        .take_while(|m| m.role != Role::Tool && m.tool_calls.is_empty())
        .filter(|m| m.role == Role::User)
        .take(3)
        .map(|m| m.content.trim())
        .collect();
    open.reverse();
    open.join(" ")
}

/// A passage's sentences: ends at a line break, or at `.`, `!`, `?` followed by a space or the
/// end (so `49.02` and `acme.com` stay whole).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let mut end = rest.len();
            let mut chars = rest.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                let next_blank = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
                if c == '\n' || ("!?.".contains(c) && next_blank) {
                    end = i + c.len_utf8();
                    break;
                }
            }
            let (sentence, tail) = rest.split_at(end);
            rest = tail;
            let sentence = sentence.trim().trim_end_matches('.').trim();
            if sentence.chars().filter(|c| c.is_alphanumeric()).count() >= 3 {
                return Some(sentence);
            }
        }
    })
}

/// A deterministic call id: the same request gives the same id.
fn call_id(name: &str, arguments: &serde_json::Value, turn: usize) -> String {
    // FNV-1a over the tool, its arguments and the turn.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name
        .bytes()
        .chain(arguments.to_string().into_bytes())
        .chain(turn.to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("call_{h:016x}")
}

fn usage(r: &ChatRequest, reply: &Reply, started: Instant) -> Usage {
    let calls: u32 = reply
        .calls
        .iter()
        .map(|c| tokens::count(&c.name) + tokens::count(&c.arguments.to_string()))
        .sum();
    Usage {
        prompt_tokens: tokens::prompt(r),
        completion_tokens: tokens::count(&reply.text) + calls,
        cost_usd: Some(0.0),
        latency: started.elapsed(),
        estimated: false,
    }
}

#[async_trait]
impl ChatModel for LocalModel {
    fn name(&self) -> &str {
        LOCAL_MODEL_NAME
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError> {
        let started = Instant::now();
        let reply = self.reply(&request).await?;
        let usage = usage(&request, &reply, started);
        Ok(ChatResponse {
            message: Message {
                tool_calls: reply.calls.clone(),
                ..Message::assistant(reply.text)
            },
            tool_calls: reply.calls,
            finish_reason: reply.finish,
            usage,
            model: LOCAL_MODEL_NAME.into(),
        })
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError> {
        let started = Instant::now();
        let reply = self.reply(&request).await?;
        let usage = usage(&request, &reply, started);
        let mut events: Vec<ChatEvent> = tokens::pieces(&reply.text)
            .map(|p| ChatEvent::Token(p.to_string()))
            .collect();
        events.extend(reply.calls.into_iter().map(ChatEvent::ToolCall));
        events.push(ChatEvent::Usage(usage));
        events.push(ChatEvent::Done(reply.finish));
        Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }
}
