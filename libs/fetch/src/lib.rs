//! The one HTTP client for user-given URLs: limits, robots.txt, per-host rate, SSRF guard.
//!
//! Every service that fetches a URL a user gave goes through [`Fetcher`]. Each hop (the first
//! request and every redirect, followed by hand) is checked: scheme, credentials, IP literals,
//! robots.txt, the per-host pace; host names are resolved by [`guard::GuardedResolver`], which
//! hands reqwest only addresses that pass [`address::refusal`], so the connection goes to a
//! checked address. Bodies are capped while they stream, and the whole fetch runs under one
//! deadline, so a slow-drip server is cut off. `FLEET_FETCH_ALLOW_HOSTS` exempts named
//! `host[:port]`s (local fixtures) from the address check. ARCHITECTURE §4, §10.
use std::{net::IpAddr, time::Duration};

use problem::Problem;

pub mod address;
mod config;
mod fetcher;
pub mod guard;
pub mod pacing;
pub mod robots;

pub use config::FetchConfig;
pub use fetcher::{Fetcher, Page, Posted};
pub use guard::AllowList;
pub use reqwest::Url;

/// Why a fetch did not produce a page. Each is the caller's to turn into a 4xx or a recorded
/// failure; none is a panic.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("scheme {0:?} is not fetched (http and https only)")]
    BadScheme(String),
    #[error(
        "the address {addr} is not reachable from here (private, loopback, link-local or reserved)"
    )]
    Blocked { addr: IpAddr },
    #[error("the body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the fetch took longer than allowed")]
    Timeout,
    #[error("more than {limit} redirects")]
    RedirectLimit { limit: usize },
    #[error("robots.txt disallows {url}")]
    DisallowedByRobots { url: String },
    #[error("content type {content_type:?} is not accepted")]
    BadContentType { content_type: String },
    #[error("the server answered {status}")]
    Http { status: u16 },
    #[error("too many requests to this host; retry in {} ms", retry_after.as_millis())]
    RateLimited { retry_after: Duration },
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("fetch configuration: {0}")]
    Config(String),
}

impl From<FetchError> for Problem {
    fn from(e: FetchError) -> Self {
        use http::StatusCode as S;
        let (status, slug) = match &e {
            FetchError::InvalidUrl(_) | FetchError::BadScheme(_) => {
                (S::UNPROCESSABLE_ENTITY, "url-invalid")
            }
            FetchError::Blocked { .. } => (S::UNPROCESSABLE_ENTITY, "url-blocked"),
            FetchError::DisallowedByRobots { .. } => (S::UNPROCESSABLE_ENTITY, "url-disallowed"),
            FetchError::BadContentType { .. } => (S::UNPROCESSABLE_ENTITY, "url-content-type"),
            FetchError::TooLarge { .. } => (S::UNPROCESSABLE_ENTITY, "url-too-large"),
            FetchError::RedirectLimit { .. } => (S::UNPROCESSABLE_ENTITY, "url-redirects"),
            FetchError::Http { .. } => (S::BAD_GATEWAY, "url-upstream-status"),
            FetchError::Connect(_) | FetchError::Transport(_) => {
                (S::BAD_GATEWAY, "url-unreachable")
            }
            FetchError::Timeout => (S::GATEWAY_TIMEOUT, "url-timeout"),
            FetchError::RateLimited { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                return Problem::rate_limited(secs).with_title("host rate limit");
            }
            FetchError::Config(_) => return Problem::internal(e),
        };
        Problem::new(status, slug, e.to_string())
    }
}
