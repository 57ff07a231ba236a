//! The fetcher's settings: limits with safe defaults, the allow-list and user agent from the
//! environment.
use std::time::Duration;

use crate::{AllowList, FetchError};

/// How a [`crate::Fetcher`] behaves. Fields are public so a service or test can tighten them.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Sent as `User-Agent` and matched against robots.txt groups.
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// One deadline for the whole fetch: robots.txt, pacing waits, every hop and the body.
    pub total_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    /// Accepted media types (`text/html`, or `image/*` for a whole type).
    pub content_types: Vec<String>,
    pub respect_robots: bool,
    pub robots_ttl: Duration,
    /// How long an unreachable robots.txt (treated as disallow-all) is remembered.
    pub robots_error_ttl: Duration,
    /// The longest crawl-delay honoured; longer ones are capped to this.
    pub max_crawl_delay: Duration,
    /// The least time between two requests to one origin.
    pub per_host_interval: Duration,
    /// The longest a fetch waits for its host's slot before answering `RateLimited`.
    pub max_pacing_wait: Duration,
    /// How many origins the pacer and the robots cache remember.
    pub max_hosts: usize,
    pub allow: AllowList,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            user_agent: "fleet-fetch/0.1 (+https://workflow.example/bot)".into(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
            max_body_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            content_types: [
                "text/html",
                "application/xhtml+xml",
                "text/plain",
                "application/json",
                "application/xml",
                "text/xml",
                "application/pdf",
                "image/*",
            ]
            .map(String::from)
            .to_vec(),
            respect_robots: true,
            robots_ttl: Duration::from_secs(3600),
            robots_error_ttl: Duration::from_secs(60),
            max_crawl_delay: Duration::from_secs(30),
            per_host_interval: Duration::from_millis(250),
            max_pacing_wait: Duration::from_secs(10),
            max_hosts: 10_000,
            allow: AllowList::default(),
        }
    }
}

impl FetchConfig {
    /// The defaults, with `FLEET_FETCH_ALLOW_HOSTS` and `FLEET_FETCH_USER_AGENT` applied from
    /// `lookup` (the service's configuration, or the process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, FetchError> {
        let mut cfg = FetchConfig::default();
        if let Some(spec) = lookup("FLEET_FETCH_ALLOW_HOSTS") {
            cfg.allow = AllowList::parse(&spec)?;
        }
        if let Some(ua) = lookup("FLEET_FETCH_USER_AGENT").filter(|s| !s.trim().is_empty()) {
            if http::HeaderValue::from_str(&ua).is_err() {
                return Err(FetchError::Config(
                    "FLEET_FETCH_USER_AGENT is not a valid header value".into(),
                ));
            }
            cfg.user_agent = ua;
        }
        Ok(cfg)
    }

    /// [`Self::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, FetchError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Whether `content_type` (a header value) is on the allow-list.
    pub fn accepts(&self, content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some((kind, _)) = essence.split_once('/') else {
            return false;
        };
        self.content_types.iter().any(|allowed| {
            allowed == &essence
                || allowed
                    .strip_suffix("/*")
                    .is_some_and(|k| k.eq_ignore_ascii_case(kind))
        })
    }
}
