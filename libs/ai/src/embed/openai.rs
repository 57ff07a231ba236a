//! The production client: any OpenAI-compatible `POST {base}/embeddings` endpoint, with
//! retries and backoff on 429 and 5xx, a timeout per request and a cap on the answer's size.
use std::{fmt, time::Duration};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{EmbedError, Embedder, input};

/// Where and how to call the provider (`FLEET_EMBED_*`, README).
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API base, e.g. `https://api.openai.com/v1`; `/embeddings` is appended.
    pub base_url: String,
    pub model: String,
    /// The vector length the model answers; an answer of another length is refused.
    pub dimensions: usize,
    /// Sent as `Authorization: Bearer …`; never logged.
    pub api_key: Option<String>,
    pub timeout: Duration,
    /// Retries after the first attempt, on 429, 5xx and transport failures.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Texts per request.
    pub batch_size: usize,
}

impl OpenAiConfig {
    pub fn new(base_url: &str, model: &str, dimensions: usize) -> Self {
        OpenAiConfig {
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            dimensions,
            api_key: None,
            timeout: Duration::from_secs(30),
            max_retries: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            batch_size: 256,
        }
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("dimensions", &self.dimensions)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    /// Some compatible servers leave it out; the position is used then.
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// One attempt's failure: worth retrying, or final.
enum Failure {
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Final(EmbedError),
}

/// The OpenAI-compatible embeddings client.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    url: reqwest::Url,
    cfg: OpenAiConfig,
}

impl OpenAiEmbedder {
    pub fn new(cfg: OpenAiConfig) -> Result<Self, EmbedError> {
        let url = reqwest::Url::parse(&format!("{}/embeddings", cfg.base_url))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                EmbedError::NotConfigured(format!(
                    "FLEET_EMBED_BASE_URL {:?} is not an http(s) URL",
                    cfg.base_url
                ))
            })?;
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EmbedError::NotConfigured(format!("HTTP client: {e}")))?;
        Ok(OpenAiEmbedder { http, url, cfg })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt);
        self.cfg
            .initial_backoff
            .saturating_mul(factor)
            .min(self.cfg.max_backoff)
    }

    async fn request(&self, batch: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut attempt = 0;
        loop {
            match self.attempt(batch).await {
                Ok(v) => return Ok(v),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry { reason, after }) => {
                    if attempt >= self.cfg.max_retries {
                        return Err(EmbedError::Provider(format!(
                            "{reason} (gave up after {} attempts)",
                            attempt + 1
                        )));
                    }
                    let wait = after.unwrap_or_else(|| self.backoff(attempt));
                    tracing::warn!(%reason, attempt, wait_ms = wait.as_millis() as u64, "embedding provider: retrying");
                    tokio::time::sleep(wait.min(self.cfg.max_backoff)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, batch: &[String]) -> Result<Vec<Vec<f32>>, Failure> {
        let body = Request {
            model: &self.cfg.model,
            input: batch,
            encoding_format: "float",
        };
        let mut req = self.http.post(self.url.clone()).json(&body);
        if let Some(key) = &self.cfg.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| Failure::Retry {
            reason: format!("request failed: {}", e.without_url()),
            after: None,
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let after = retry_after(resp.headers());
            let detail = provider_message(&read_capped(resp, 64 * 1024).await.unwrap_or_default());
            return Err(Failure::Retry {
                reason: format!("{status}{detail}"),
                after,
            });
        }
        let limit = batch.len() * self.cfg.dimensions * 32 + 64 * 1024;
        let bytes = read_capped(resp, limit).await.map_err(Failure::Final)?;
        if !status.is_success() {
            return Err(Failure::Final(EmbedError::Provider(format!(
                "{status}{}",
                provider_message(&bytes)
            ))));
        }
        parse_answer(&bytes, batch.len(), self.cfg.dimensions).map_err(Failure::Final)
    }
}

/// The provider's `Retry-After` in seconds, when it gives one.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// ": <message>" from an OpenAI-style error body, shortened; empty when there is none.
fn provider_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(e) => {
            let msg: String = e.error.message.chars().take(200).collect();
            format!(": {msg}")
        }
        Err(_) => String::new(),
    }
}

async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, EmbedError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| EmbedError::Provider(format!("reading the answer: {}", e.without_url())))?
    {
        if out.len() + chunk.len() > limit {
            return Err(EmbedError::Provider(format!(
                "the answer is larger than {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Checks the answer has one finite vector of the right length per text, in index order, and
/// normalises each (providers' vectors are usually unit length already; the trait promises it).
fn parse_answer(body: &[u8], count: usize, dims: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| EmbedError::Provider(format!("malformed answer: {e}")))?;
    if answer.data.len() != count {
        return Err(EmbedError::Provider(format!(
            "malformed answer: {} vectors for {count} texts",
            answer.data.len()
        )));
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; count];
    for (pos, item) in answer.data.into_iter().enumerate() {
        let i = item.index.unwrap_or(pos);
        if item.embedding.len() != dims || item.embedding.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::Provider(format!(
                "malformed answer: vector {i} has {} values (expected {dims} finite ones)",
                item.embedding.len()
            )));
        }
        match out.get_mut(i) {
            Some(slot @ None) => *slot = Some(normalise(item.embedding)),
            _ => {
                return Err(EmbedError::Provider(format!(
                    "malformed answer: index {i} is out of range or repeated"
                )));
            }
        }
    }
    Ok(out.into_iter().flatten().collect())
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn dimensions(&self) -> usize {
        self.cfg.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        input::check(texts)?;
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.cfg.batch_size.max(1)) {
            out.extend(self.request(batch).await?);
        }
        Ok(out)
    }
}
