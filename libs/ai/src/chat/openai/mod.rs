//! The production chat model: any OpenAI-compatible `/v1/chat/completions` (OpenAI, vLLM,
//! Ollama, LiteLLM, …) over reqwest with rustls, streamed answers read as server-sent events.
use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;

use super::{
    ChatModel, ChatStream,
    assemble::Assembler,
    error::ChatError,
    tokens,
    types::{ChatRequest, ChatResponse, FinishReason, Message, Role, Usage},
    validate,
};

mod config;
mod retry;
mod stream;
mod wire;

pub use config::OpenAiConfig;

/// The largest unstreamed answer (or error body) read.
const MAX_BODY: usize = 8 * 1024 * 1024;

pub struct OpenAiChat {
    cfg: Arc<OpenAiConfig>,
    http: reqwest::Client,
    url: String,
}

impl OpenAiChat {
    pub fn new(cfg: OpenAiConfig) -> Result<Self, ChatError> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            // A provider has no business redirecting; following one could carry the key away.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ChatError::Config(format!("HTTP client: {e}")))?;
        let url = cfg.url();
        reqwest::Url::parse(&url)
            .map_err(|e| ChatError::Config(format!("FLEET_LLM_BASE_URL: {e}")))?;
        Ok(OpenAiChat {
            cfg: Arc::new(cfg),
            http,
            url,
        })
    }

    fn model<'a>(&'a self, r: &'a ChatRequest) -> &'a str {
        if r.model.is_empty() {
            &self.cfg.model
        } else {
            &r.model
        }
    }

    /// Posts `body`, retrying 429/5xx and refused connections with backoff; a success's
    /// response, or the typed failure of the last attempt.
    async fn send(&self, body: &Value) -> Result<reqwest::Response, ChatError> {
        let mut attempt = 0;
        loop {
            let mut req = self.http.post(&self.url).json(body);
            if let Some(key) = &self.cfg.api_key {
                req = req.bearer_auth(key);
            }
            let resp = match tokio::time::timeout(self.cfg.timeout, req.send()).await {
                Err(_) => return Err(ChatError::Timeout(self.cfg.timeout)),
                Ok(Err(e)) if e.is_connect() && attempt < self.cfg.max_retries => {
                    tokio::time::sleep(retry::backoff(&self.cfg, attempt)).await;
                    attempt += 1;
                    continue;
                }
                Ok(Err(e)) => {
                    return Err(ChatError::Provider {
                        status: None,
                        message: e.without_url().to_string(),
                    });
                }
                Ok(Ok(resp)) => resp,
            };
            if resp.status().is_success() {
                return Ok(resp);
            }
            if let Some(wait) = retry::next_wait(&self.cfg, attempt, &resp) {
                tracing::debug!(status = %resp.status(), ?wait, attempt, "retrying the model call");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return Err(self.failure(resp).await);
        }
    }

    async fn failure(&self, resp: reqwest::Response) -> ChatError {
        let status = resp.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return ChatError::RateLimited {
                retry_after: retry::retry_after(resp.headers()),
            };
        }
        let body = read_body(resp, self.cfg.timeout).await.unwrap_or_default();
        ChatError::Provider {
            status: Some(status.as_u16()),
            message: wire::error_message(&String::from_utf8_lossy(&body)),
        }
    }
}

/// A body, bounded in size and time.
async fn read_body(
    resp: reqwest::Response,
    within: std::time::Duration,
) -> Result<Vec<u8>, ChatError> {
    let read = async {
        let mut body = Vec::new();
        let mut chunks = resp.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|_| ChatError::Malformed("the answer broke off".into()))?;
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ChatError::Malformed(format!(
                    "the answer exceeds {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| ChatError::Timeout(within))?
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn name(&self) -> &str {
        &self.cfg.model
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError> {
        validate::request(&request)?;
        let model = self.model(&request).to_string();
        let started = Instant::now();
        let body = wire::request(&request, &model, false, self.cfg.default_max_tokens);
        let resp = self.send(&body).await?;
        let bytes = read_body(resp, self.cfg.timeout).await?;
        let answer: wire::Completion = serde_json::from_slice(&bytes)
            .map_err(|e| ChatError::Malformed(format!("the answer is not a completion: {e}")))?;
        self.response(&request, model, answer, started)
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError> {
        validate::request(&request)?;
        let model = self.model(&request).to_string();
        let started = Instant::now();
        let body = wire::request(&request, &model, true, self.cfg.default_max_tokens);
        let resp = self.send(&body).await?;
        Ok(stream::events(
            resp,
            request,
            model,
            self.cfg.clone(),
            started,
        ))
    }
}

impl OpenAiChat {
    fn response(
        &self,
        request: &ChatRequest,
        model: String,
        answer: wire::Completion,
        started: Instant,
    ) -> Result<ChatResponse, ChatError> {
        let choice = answer
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ChatError::Malformed("the answer has no choices".into()))?;
        let message = choice
            .message
            .ok_or_else(|| ChatError::Malformed("the answer has no message".into()))?;
        let mut calls = Assembler::default();
        for (i, c) in message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let f = c
                .function
                .ok_or_else(|| ChatError::Malformed("a tool call without a function".into()))?;
            let index = c.index.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX));
            calls.push(
                index,
                c.id.as_deref(),
                f.name.as_deref(),
                Some(&wire::arguments_text(&f.arguments)),
            )?;
        }
        let tool_calls = calls.finish(&request.tools)?;
        let content = message.content.unwrap_or_default();
        let model = answer.model.unwrap_or(model);
        let usage = usage(
            &self.cfg,
            request,
            &model,
            answer.usage,
            &content,
            &tool_calls,
            started,
        );
        Ok(ChatResponse {
            message: Message {
                role: Role::Assistant,
                content,
                tool_calls: tool_calls.clone(),
                tool_call_id: None,
            },
            tool_calls,
            finish_reason: FinishReason::parse(choice.finish_reason.as_deref().unwrap_or("")),
            usage,
            model,
        })
    }
}

/// Usage as the provider reported it, else the library's estimate (marked so).
fn usage(
    cfg: &OpenAiConfig,
    request: &ChatRequest,
    model: &str,
    reported: Option<wire::WireUsage>,
    text: &str,
    calls: &[super::types::ToolCall],
    started: Instant,
) -> Usage {
    let reported = reported.and_then(|u| Some((u.prompt_tokens?, u.completion_tokens?)));
    let (prompt, completion, estimated) = match reported {
        Some((p, c)) => (p, c, false),
        None => {
            let calls: u32 = calls
                .iter()
                .map(|c| tokens::count(&c.name) + tokens::count(&c.arguments.to_string()))
                .sum();
            (tokens::prompt(request), tokens::count(text) + calls, true)
        }
    };
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost_usd: cfg.prices.cost(model, prompt, completion),
        latency: started.elapsed(),
        estimated,
    }
}
