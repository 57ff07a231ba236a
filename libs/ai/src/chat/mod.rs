//! Chat models: messages, tools, tool calls, streaming and usage.
//!
//! One trait, [`ChatModel`], with two implementations (ARCHITECTURE §10): [`OpenAiChat`], any
//! OpenAI-compatible `/v1/chat/completions`, and [`LocalModel`], a deterministic, grounded
//! model that needs no network. [`from_env`] picks one; [`Budgeted`] charges tenants' calls to
//! a [`TokenBudget`]. Streamed answers are [`ChatEvent`]s: text tokens, whole tool calls (the
//! library assembles the provider's deltas and checks them), usage, and the finish reason.
use std::{pin::Pin, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::{Stream, StreamExt};

mod assemble;
mod budget;
mod budgeted;
mod error;
mod local;
mod openai;
mod price;
mod sse;
pub mod tokens;
mod types;
mod validate;

pub use budget::{MemoryBudget, RedisBudget, Reservation, TokenBudget};
pub use budgeted::{Budgeted, DEFAULT_RESERVED_COMPLETION};
pub use error::ChatError;
pub use local::{Extracted, LOCAL_MODEL_NAME, LocalConfig, LocalModel, extract_arguments};
pub use openai::{OpenAiChat, OpenAiConfig};
pub use price::{Price, Prices};
pub use types::{
    ChatEvent, ChatRequest, ChatResponse, FinishReason, Message, Passage, Role, ToolCall,
    ToolChoice, ToolDef, Usage,
};

/// A streamed answer: events until `Done`, or an error (after which nothing follows).
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ChatError>> + Send>>;

#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The default model's name.
    fn name(&self) -> &str;
    /// The whole answer at once.
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError>;
    /// The answer as it is produced.
    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError>;
}

/// A streamed answer gathered into a whole one (what `complete` would have answered).
pub async fn collect(mut events: ChatStream, model: &str) -> Result<ChatResponse, ChatError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut usage = None;
    while let Some(ev) = events.next().await {
        match ev? {
            ChatEvent::Token(t) => text.push_str(&t),
            ChatEvent::ToolCall(c) => calls.push(c),
            ChatEvent::Usage(u) => usage = Some(u),
            ChatEvent::Done(finish_reason) => {
                let usage = usage
                    .ok_or_else(|| ChatError::Malformed("the stream reported no usage".into()))?;
                return Ok(ChatResponse {
                    message: Message {
                        tool_calls: calls.clone(),
                        ..Message::assistant(text)
                    },
                    tool_calls: calls,
                    finish_reason,
                    usage,
                    model: model.to_string(),
                });
            }
        }
    }
    Err(ChatError::Malformed(
        "the stream ended without finishing".into(),
    ))
}

/// The chat model the environment asks for: [`OpenAiChat`] when `FLEET_LLM_BASE_URL` is set,
/// else [`LocalModel`] over the local embedder. With `FLEET_LLM_TENANT_TOKENS_PER_DAY` set,
/// tenants' calls are [`Budgeted`] — in Redis when `FLEET_REDIS_URL` is set (keys prefixed with
/// `FLEET_RATE_LIMIT_NAMESPACE`), else in this process's memory.
pub fn from_env() -> Result<Arc<dyn ChatModel>, ChatError> {
    let model: Arc<dyn ChatModel> = match std::env::var("FLEET_LLM_BASE_URL") {
        Ok(url) if !url.trim().is_empty() => Arc::new(OpenAiChat::new(OpenAiConfig::from_env()?)?),
        _ => {
            let embedder = crate::embed::local_default()
                .map_err(|e| ChatError::Config(format!("the local model's embedder: {e}")))?;
            Arc::new(LocalModel::new(embedder, LocalConfig::from_env()?))
        }
    };
    match budget_from_env()? {
        Some(budget) => Ok(Arc::new(Budgeted::new(model, budget))),
        None => Ok(model),
    }
}

fn budget_from_env() -> Result<Option<Arc<dyn TokenBudget>>, ChatError> {
    let Ok(limit) = std::env::var("FLEET_LLM_TENANT_TOKENS_PER_DAY") else {
        return Ok(None);
    };
    let limit: u64 = limit.trim().parse().map_err(|_| {
        ChatError::Config("FLEET_LLM_TENANT_TOKENS_PER_DAY: a whole number is needed".into())
    })?;
    let day = Duration::from_secs(86_400);
    match std::env::var("FLEET_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let pool = cache::connect(&url, 4)
                .map_err(|e| ChatError::Config(format!("FLEET_REDIS_URL: {e}")))?;
            let prefix = std::env::var("FLEET_RATE_LIMIT_NAMESPACE").unwrap_or_default();
            Ok(Some(Arc::new(RedisBudget::new(pool, prefix, limit, day))))
        }
        _ => Ok(Some(Arc::new(MemoryBudget::new(limit, day)))),
    }
}
