//! The production client's settings, from the environment (README, "Configuration").
use std::{fmt, time::Duration};

use crate::chat::{error::ChatError, price::Prices};

#[derive(Clone)]
pub struct OpenAiConfig {
    /// The server's root or its `/v1` (`https://api.openai.com/v1`, `http://vllm:8000`).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`; local servers (vLLM, Ollama) may need none.
    pub api_key: Option<String>,
    /// The model used when a request names none.
    pub model: String,
    pub connect_timeout: Duration,
    /// Until the answer's headers arrive, and for a whole unstreamed answer.
    pub timeout: Duration,
    /// Longest silence between two chunks of a streamed answer.
    pub idle_timeout: Duration,
    /// Longest a streamed answer may take in all (a slow drip is cut off).
    pub stream_timeout: Duration,
    /// Retries after a 429 or 5xx (or a refused connection), with exponential backoff.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails `RateLimited`.
    pub max_retry_wait: Duration,
    /// `max_tokens` of a request that sets none.
    pub default_max_tokens: u32,
    pub prices: Prices,
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is never printed.
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl OpenAiConfig {
    /// Defaults for `base_url` and `model`: 10 s to connect, 60 s to answer, 30 s between
    /// chunks, 300 s a stream, 2 retries from 500 ms up to 8 s, Retry-After honoured up to
    /// 20 s, 1024 tokens.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            stream_timeout: Duration::from_secs(300),
            max_retries: 2,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_wait: Duration::from_secs(20),
            default_max_tokens: 1024,
            prices: Prices::default(),
        }
    }

    /// `FLEET_LLM_BASE_URL` (required here), `FLEET_LLM_MODEL` (required), the key from
    /// `FLEET_LLM_API_KEY_FILE` or `FLEET_LLM_API_KEY`, and the optional tuning settings.
    pub fn from_env() -> Result<Self, ChatError> {
        let need = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ChatError::Config(format!("{k} is not set")))
        };
        let mut c = OpenAiConfig::new(need("FLEET_LLM_BASE_URL")?, need("FLEET_LLM_MODEL")?);
        c.api_key = api_key()?;
        secs("FLEET_LLM_CONNECT_TIMEOUT_SECS", &mut c.connect_timeout)?;
        secs("FLEET_LLM_TIMEOUT_SECS", &mut c.timeout)?;
        secs("FLEET_LLM_IDLE_TIMEOUT_SECS", &mut c.idle_timeout)?;
        secs("FLEET_LLM_STREAM_TIMEOUT_SECS", &mut c.stream_timeout)?;
        secs("FLEET_LLM_MAX_RETRY_WAIT_SECS", &mut c.max_retry_wait)?;
        if let Some(n) = number("FLEET_LLM_MAX_RETRIES")? {
            c.max_retries = u32::try_from(n.min(10)).unwrap_or(10);
        }
        if let Some(n) = number("FLEET_LLM_MAX_TOKENS")? {
            c.default_max_tokens = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        }
        c.prices = Prices::from_env()?;
        Ok(c)
    }

    /// The chat-completions URL.
    pub fn url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        }
    }
}

fn api_key() -> Result<Option<String>, ChatError> {
    if let Ok(path) = std::env::var("FLEET_LLM_API_KEY_FILE") {
        // The path may be named in errors; the file's content never is.
        let key = std::fs::read_to_string(&path).map_err(|e| {
            ChatError::Config(format!("FLEET_LLM_API_KEY_FILE {path}: {}", e.kind()))
        })?;
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(ChatError::Config(format!(
                "FLEET_LLM_API_KEY_FILE {path} is empty"
            )));
        }
        return Ok(Some(key));
    }
    Ok(std::env::var("FLEET_LLM_API_KEY")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty()))
}

fn number(key: &str) -> Result<Option<u64>, ChatError> {
    match std::env::var(key) {
        Err(_) => Ok(None),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ChatError::Config(format!("{key}: a whole number is needed"))),
    }
}

fn secs(key: &str, into: &mut Duration) -> Result<(), ChatError> {
    if let Some(n) = number(key)? {
        *into = Duration::from_secs(n.max(1));
    }
    Ok(())
}
