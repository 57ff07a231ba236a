//! A streamed answer: the response body's server-sent events turned into [`ChatEvent`]s.
//!
//! Text deltas pass through as tokens; tool-call deltas are assembled and each whole call is
//! checked (known tool, JSON-object arguments) before it is handed on; a `finish_reason` of
//! `""` or `null` on a chunk means "not finished yet"; usage comes from the last chunk (or is
//! estimated). The answer ends at `data: [DONE]` — or at the end of the body once a finish
//! reason was given; a body that ends before either is truncated, an error. Every read is
//! bounded by the idle timeout and the whole stream by the stream timeout.
use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt};

use super::{config::OpenAiConfig, usage, wire};
use crate::chat::{
    ChatStream,
    assemble::Assembler,
    error::ChatError,
    sse,
    types::{ChatEvent, ChatRequest, FinishReason},
};

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

struct State {
    body: Body,
    parser: sse::Parser,
    pending: VecDeque<ChatEvent>,
    calls: Assembler,
    request: ChatRequest,
    model: String,
    cfg: Arc<OpenAiConfig>,
    started: Instant,
    text: String,
    finish: Option<FinishReason>,
    usage: Option<wire::WireUsage>,
    /// The final events are queued (or an error was returned): nothing more is read.
    over: bool,
}

pub fn events(
    resp: reqwest::Response,
    request: ChatRequest,
    model: String,
    cfg: Arc<OpenAiConfig>,
    started: Instant,
) -> ChatStream {
    let state = State {
        body: Box::pin(resp.bytes_stream()),
        parser: sse::Parser::default(),
        pending: VecDeque::new(),
        calls: Assembler::default(),
        request,
        model,
        cfg,
        started,
        text: String::new(),
        finish: None,
        usage: None,
        over: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.pending.pop_front() {
                return Some((Ok(ev), st));
            }
            if st.over {
                return None;
            }
            if let Err(e) = st.advance().await {
                st.over = true;
                st.pending.clear();
                return Some((Err(e), st));
            }
        }
    })) as Pin<Box<dyn Stream<Item = _> + Send>>
}

impl State {
    /// Reads the next piece of the body and queues what it completes.
    async fn advance(&mut self) -> Result<(), ChatError> {
        let total_left = self
            .cfg
            .stream_timeout
            .checked_sub(self.started.elapsed())
            .ok_or(ChatError::Timeout(self.cfg.stream_timeout))?;
        let wait = self.cfg.idle_timeout.min(total_left);
        let next = tokio::time::timeout(wait, self.body.next())
            .await
            .map_err(|_| ChatError::Timeout(timeout_hit(&self.cfg, wait)))?;
        match next {
            Some(Ok(bytes)) => {
                for ev in self.parser.feed(&bytes)? {
                    self.event(ev)?;
                }
                Ok(())
            }
            Some(Err(_)) => Err(ChatError::Malformed("the answer stream broke off".into())),
            None => {
                if let Some(ev) = self.parser.finish()? {
                    self.event(ev)?;
                }
                if self.over {
                    return Ok(());
                }
                if self.finish.is_none() {
                    return Err(ChatError::Malformed(
                        "the answer stream ended before the answer was complete".into(),
                    ));
                }
                self.conclude()
            }
        }
    }

    fn event(&mut self, ev: sse::Event) -> Result<(), ChatError> {
        if self.over {
            return Ok(());
        }
        if ev.name.as_deref() == Some("error") {
            return Err(provider(wire::error_message(&ev.data)));
        }
        if ev.data.trim() == "[DONE]" {
            return self.conclude();
        }
        let chunk: wire::Chunk = serde_json::from_str(&ev.data)
            .map_err(|e| ChatError::Malformed(format!("a stream chunk is not JSON: {e}")))?;
        if let Some(err) = chunk.error {
            return Err(provider(wire::error_message(
                &serde_json::json!({"error": err}).to_string(),
            )));
        }
        if let Some(m) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = m;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        for choice in chunk.choices {
            self.choice(choice)?;
        }
        Ok(())
    }

    fn choice(&mut self, choice: wire::ChunkChoice) -> Result<(), ChatError> {
        if let Some(delta) = choice.delta {
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                self.text.push_str(&text);
                self.pending.push_back(ChatEvent::Token(text));
            }
            for (i, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let f = call.function.unwrap_or(wire::WireFunction {
                    name: None,
                    arguments: None,
                });
                // Without `index` (older Ollama sends whole calls) the position stands in.
                let index = call.index.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX));
                let args = wire::arguments_text(&f.arguments);
                self.calls
                    .push(index, call.id.as_deref(), f.name.as_deref(), Some(&args))?;
            }
        }
        if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty())
            && self.finish.is_none()
        {
            self.finish = Some(FinishReason::parse(&reason));
        }
        Ok(())
    }

    /// The answer is complete: queue its tool calls, usage and end.
    fn conclude(&mut self) -> Result<(), ChatError> {
        let calls = std::mem::take(&mut self.calls).finish(&self.request.tools)?;
        let usage = usage(
            &self.cfg,
            &self.request,
            &self.model,
            self.usage,
            &self.text,
            &calls,
            self.started,
        );
        self.pending
            .extend(calls.into_iter().map(ChatEvent::ToolCall));
        self.pending.push_back(ChatEvent::Usage(usage));
        let finish = self
            .finish
            .take()
            .unwrap_or_else(|| FinishReason::Other(String::new()));
        self.pending.push_back(ChatEvent::Done(finish));
        self.over = true;
        Ok(())
    }
}

fn provider(message: String) -> ChatError {
    ChatError::Provider {
        status: None,
        message,
    }
}

/// Which limit a timed-out read hit: the whole stream's, or the silence between chunks.
fn timeout_hit(cfg: &OpenAiConfig, waited: Duration) -> Duration {
    if waited < cfg.idle_timeout {
        cfg.stream_timeout
    } else {
        cfg.idle_timeout
    }
}
