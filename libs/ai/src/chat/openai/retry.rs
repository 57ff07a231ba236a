//! When to try a provider call again, and how long to wait first.
use std::time::Duration;

use reqwest::{Response, StatusCode, header::HeaderMap};

use super::config::OpenAiConfig;

/// Load and server faults are worth a retry; other 4xx are the request's fault.
pub fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// What the provider asked for: `retry-after-ms` (OpenAI) or `Retry-After` in seconds.
/// (An HTTP-date `Retry-After` is not read; the backoff applies instead.)
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let d = get("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| get("retry-after"))?;
    (d.is_finite() && d >= 0.0).then(|| Duration::from_secs_f64(d.min(86_400.0)))
}

/// Exponential backoff with jitter: attempt n waits a random time in [d/2, d], d = base·2ⁿ
/// capped at the maximum, so replicas that failed together do not retry together.
pub fn backoff(cfg: &OpenAiConfig, attempt: u32) -> Duration {
    let d = cfg
        .backoff_base
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(cfg.backoff_max);
    let half = d / 2;
    let jitter_ms = rand::random_range(0..=u64::try_from(half.as_millis()).unwrap_or(0));
    half + Duration::from_millis(jitter_ms)
}

/// The wait before the next attempt after `resp`, or `None` when the call should not be
/// retried (out of attempts, or the provider asked for longer than we wait).
pub fn next_wait(cfg: &OpenAiConfig, attempt: u32, resp: &Response) -> Option<Duration> {
    if attempt >= cfg.max_retries || !retryable(resp.status()) {
        return None;
    }
    match retry_after(resp.headers()) {
        Some(d) if d > cfg.max_retry_wait => None,
        Some(d) => Some(d),
        None => Some(backoff(cfg, attempt)),
    }
}
