//! What can go wrong calling a chat model, typed so a caller can answer a 4xx/5xx or record it.
use std::time::Duration;

use problem::Problem;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatError {
    /// The request itself is unusable (no messages, a tool without a name, …).
    #[error("bad chat request: {0}")]
    BadRequest(String),
    /// The provider refused for load; `retry_after` is what it asked for, when it did.
    #[error("the model provider is rate limiting (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// The provider answered an error (after any retries).
    #[error("the model provider failed (status {status:?}): {message}")]
    Provider {
        status: Option<u16>,
        message: String,
    },
    /// The answer was not what the protocol promises (bad JSON, truncated stream, …).
    #[error("malformed model answer: {0}")]
    Malformed(String),
    /// The model called a tool the request did not offer.
    #[error("the model called an unknown tool `{0}`")]
    UnknownTool(String),
    /// The model called a tool with arguments that are not a JSON object.
    #[error("the model called `{tool}` with invalid arguments: {reason}")]
    BadToolArguments { tool: String, reason: String },
    /// The tenant's token budget would be exceeded; refused before calling the provider.
    #[error("token budget exceeded: {used} of {limit} tokens used, {requested} requested")]
    BudgetExceeded {
        limit: u64,
        used: u64,
        requested: u64,
        /// Until the budget's window starts afresh.
        retry_after: Duration,
    },
    /// No answer (or no next chunk) within the configured time.
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    /// The model is not usable as configured (a missing key file, a bad URL, no embedder).
    #[error("chat model configuration: {0}")]
    Config(String),
}

impl ChatError {
    /// Worth trying again later (the provider's load, a slow answer, a flaky upstream).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChatError::RateLimited { .. } | ChatError::Timeout(_) | ChatError::Provider { .. }
        )
    }
}

impl From<ChatError> for Problem {
    fn from(e: ChatError) -> Self {
        use http::StatusCode;
        match &e {
            ChatError::BadRequest(d) => Problem::bad_request(d.clone()),
            ChatError::BudgetExceeded { retry_after, .. } => {
                Problem::rate_limited(retry_after.as_secs().max(1))
                    .with_title("Token budget exceeded")
            }
            ChatError::RateLimited { retry_after } => {
                let p = Problem::unavailable("the language model is busy; retry shortly");
                match retry_after {
                    Some(d) => p.with_retry_after(d.as_secs().max(1)),
                    None => p,
                }
            }
            ChatError::Timeout(_) => Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "model-timeout",
                "the language model timed out",
            ),
            ChatError::Config(_) => Problem::internal(e),
            // The upstream's own words are logged, never returned.
            ChatError::Provider { .. }
            | ChatError::Malformed(_)
            | ChatError::UnknownTool(_)
            | ChatError::BadToolArguments { .. } => {
                tracing::warn!(error = %e, "language model answer refused");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "model-error",
                    "the language model gave no usable answer",
                )
            }
        }
    }
}
