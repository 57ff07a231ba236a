//! The fetcher: two reqwest clients (one whose resolver filters every name, one that exempts
//! the allow-list's names), redirects followed by hand so each hop is re-checked, robots.txt
//! and pacing before each hop, and the body read under a cap.
use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use reqwest::{Client, Response, Url};

use crate::{
    FetchConfig, FetchError,
    guard::{self, GuardedResolver},
    pacing::Pacer,
    robots::{RobotsCache, Rules},
};

/// The largest robots.txt read (Google reads 500 KiB).
const ROBOTS_MAX_BYTES: usize = 512 * 1024;
/// What is kept of a delivery's answer body.
const POSTED_MAX_BYTES: usize = 16 * 1024;

/// A fetched page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The URL the body came from (after redirects).
    pub url: Url,
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
    /// The hops before `url`, in order.
    pub redirects: Vec<Url>,
}

/// The answer to a [`Fetcher::post`]: its status and the start of its body.
#[derive(Debug, Clone)]
pub struct Posted {
    pub status: u16,
    pub body: Bytes,
}

/// Why a hop is made: a page (robots and pacing apply) or robots.txt itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Page,
    Robots,
}

/// The one client for user-given URLs. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: FetchConfig,
    strict: Client,
    exempt: Client,
    pacer: Pacer,
    robots: RobotsCache,
}

impl Fetcher {
    pub fn new(cfg: FetchConfig) -> Result<Self, FetchError> {
        let strict = client(&cfg, GuardedResolver::strict())?;
        let exempt = client(&cfg, GuardedResolver::exempting(&cfg.allow))?;
        let pacer = Pacer::new(cfg.max_hosts, cfg.max_pacing_wait);
        let robots = RobotsCache::new(cfg.max_hosts);
        Ok(Fetcher {
            inner: Arc::new(Inner {
                cfg,
                strict,
                exempt,
                pacer,
                robots,
            }),
        })
    }

    pub fn config(&self) -> &FetchConfig {
        &self.inner.cfg
    }

    /// GETs `url` with every check. The whole call is bounded by the total timeout.
    pub async fn get(&self, url: &str) -> Result<Page, FetchError> {
        let url = parse(url)?;
        let cfg = &self.inner.cfg;
        tokio::time::timeout(cfg.total_timeout, self.get_page(url))
            .await
            .map_err(|_| FetchError::Timeout)?
    }

    async fn get_page(&self, url: Url) -> Result<Page, FetchError> {
        let cfg = &self.inner.cfg;
        let (final_url, redirects, resp) = self.follow(url, Purpose::Page).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Http {
                status: status.as_u16(),
            });
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if !cfg.accepts(&content_type) {
            return Err(FetchError::BadContentType { content_type });
        }
        let body = read_capped(resp, cfg.max_body_bytes).await?;
        Ok(Page {
            url: final_url,
            status: status.as_u16(),
            content_type,
            body,
            redirects,
        })
    }

    /// POSTs `body` to `url` with `headers` (a webhook delivery): the address guard and the
    /// timeouts apply, robots.txt and pacing do not, and no redirect is followed (a 3xx is
    /// returned as the answer). Any status is returned; the body is cut at 16 KiB.
    pub async fn post(
        &self,
        url: &Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Posted, FetchError> {
        let exempt = guard::check_url(url, &self.inner.cfg.allow)?;
        let send = async {
            let resp = self
                .client(exempt)
                .post(url.clone())
                .headers(headers)
                .body(body)
                .send()
                .await
                .map_err(classify)?;
            let status = resp.status().as_u16();
            let body = read_prefix(resp, POSTED_MAX_BYTES).await?;
            Ok(Posted { status, body })
        };
        tokio::time::timeout(self.inner.cfg.total_timeout, send)
            .await
            .map_err(|_| FetchError::Timeout)?
    }

    fn client(&self, exempt: bool) -> &Client {
        if exempt {
            &self.inner.exempt
        } else {
            &self.inner.strict
        }
    }

    /// Sends hop after hop until an answer that is not a redirect; each hop is checked.
    async fn follow(
        &self,
        mut url: Url,
        purpose: Purpose,
    ) -> Result<(Url, Vec<Url>, Response), FetchError> {
        let cfg = &self.inner.cfg;
        let mut redirects = Vec::new();
        loop {
            let exempt = guard::check_url(&url, &cfg.allow)?;
            if purpose == Purpose::Page {
                self.admit(&url).await?;
            }
            let resp = self
                .client(exempt)
                .get(url.clone())
                .header(header::ACCEPT, accept(purpose))
                .send()
                .await
                .map_err(classify)?;
            let Some(next) = redirect_target(&url, &resp)? else {
                return Ok((url, redirects, resp));
            };
            if redirects.len() >= cfg.max_redirects {
                return Err(FetchError::RedirectLimit {
                    limit: cfg.max_redirects,
                });
            }
            redirects.push(std::mem::replace(&mut url, next));
        }
    }

    /// robots.txt and the per-host pace, before a page hop.
    async fn admit(&self, url: &Url) -> Result<(), FetchError> {
        let cfg = &self.inner.cfg;
        let origin = url.origin().ascii_serialization();
        let mut interval = cfg.per_host_interval;
        if cfg.respect_robots {
            let rules = self.rules(url, &origin).await?;
            if !rules.allowed(url.as_str()) {
                return Err(FetchError::DisallowedByRobots {
                    url: url.to_string(),
                });
            }
            interval = interval.max(rules.delay(cfg.max_crawl_delay));
        }
        let wait = self.inner.pacer.reserve(&origin, interval)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The origin's robots.txt rules, from the cache or fetched (without pacing: one small
    /// request per origin per time-to-live). A refused address or a refused connection is the
    /// page's error too and is returned as such; other failures disallow the site for a while.
    async fn rules(&self, url: &Url, origin: &str) -> Result<Arc<Rules>, FetchError> {
        if let Some(r) = self.inner.robots.get(origin) {
            return Ok(r);
        }
        let cfg = &self.inner.cfg;
        let agent = robots_token(&cfg.user_agent);
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        // Boxed: `follow` for a page reaches here, and a future cannot contain itself.
        let (rules, ttl) = match Box::pin(self.follow(robots_url, Purpose::Robots)).await {
            Ok((_, _, resp)) => {
                let status = resp.status().as_u16();
                match read_capped(resp, ROBOTS_MAX_BYTES).await {
                    Ok(body) => (Rules::from_answer(agent, status, &body), cfg.robots_ttl),
                    // Oversized: no rule can be relied on, as with an unparseable file.
                    Err(FetchError::TooLarge { .. }) => (Rules::AllowAll, cfg.robots_ttl),
                    Err(_) => (Rules::DisallowAll, cfg.robots_error_ttl),
                }
            }
            Err(e @ (FetchError::Blocked { .. } | FetchError::Connect(_))) => return Err(e),
            // RFC 9309 §2.3.1.2: after too many redirects the file counts as unavailable.
            Err(FetchError::RedirectLimit { .. }) => (Rules::AllowAll, cfg.robots_ttl),
            Err(e) => {
                tracing::debug!(origin, error = %e, "robots.txt unreachable: disallowing");
                (Rules::DisallowAll, cfg.robots_error_ttl)
            }
        };
        let rules = Arc::new(rules);
        self.inner.robots.put(origin, rules.clone(), ttl);
        Ok(rules)
    }
}

/// The product token robots.txt groups are matched against: the user agent up to its first
/// `/` or space (`acmebot/1.0 (+url)` → `acmebot`).
fn robots_token(user_agent: &str) -> &str {
    user_agent
        .split(['/', ' '])
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or(user_agent)
}

fn client(cfg: &FetchConfig, resolver: GuardedResolver) -> Result<Client, FetchError> {
    Client::builder()
        .user_agent(cfg.user_agent.clone())
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.total_timeout)
        // Redirects are followed by hand (each hop re-checked); no proxy, so no environment
        // variable can route a request around the resolver's check.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(resolver))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| FetchError::Config(e.to_string()))
}

fn parse(url: &str) -> Result<Url, FetchError> {
    if url.len() > 8 * 1024 {
        return Err(FetchError::InvalidUrl("longer than 8 KiB".into()));
    }
    Url::parse(url.trim()).map_err(|e| FetchError::InvalidUrl(e.to_string()))
}

fn accept(purpose: Purpose) -> HeaderValue {
    HeaderValue::from_static(match purpose {
        Purpose::Page => "text/html,application/xhtml+xml,*/*;q=0.8",
        Purpose::Robots => "text/plain,*/*;q=0.5",
    })
}

/// The next hop of a redirect answer, resolved against `base`; `None` for any other answer.
fn redirect_target(base: &Url, resp: &Response) -> Result<Option<Url>, FetchError> {
    let status = resp.status();
    if !matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return Ok(None);
    }
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(FetchError::Http {
            status: status.as_u16(),
        })?;
    base.join(location)
        .map(Some)
        .map_err(|e| FetchError::InvalidUrl(format!("redirect location: {e}")))
}

/// The body, refused as soon as it passes `cap` bytes (whatever Content-Length claimed).
async fn read_capped(mut resp: Response, cap: usize) -> Result<Bytes, FetchError> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(FetchError::TooLarge { limit: cap });
    }
    let hint = resp.content_length().unwrap_or(0).min(cap as u64) as usize;
    let mut buf = Vec::with_capacity(hint);
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if buf.len() + chunk.len() > cap {
            return Err(FetchError::TooLarge { limit: cap });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
}

/// At most `cap` bytes of the body; the rest is not read.
async fn read_prefix(mut resp: Response, cap: usize) -> Result<Bytes, FetchError> {
    let mut buf = Vec::new();
    while buf.len() < cap {
        match resp.chunk().await.map_err(classify)? {
            Some(chunk) => buf.extend_from_slice(&chunk[..chunk.len().min(cap - buf.len())]),
            None => break,
        }
    }
    Ok(buf.into())
}

/// reqwest's error as the fetcher's: a refused resolution, a timeout, a connection failure.
pub(crate) fn classify(e: reqwest::Error) -> FetchError {
    if let Some(addr) = guard::blocked_in(&e) {
        return FetchError::Blocked { addr };
    }
    if e.is_timeout() {
        return FetchError::Timeout;
    }
    let msg = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    if e.is_connect() {
        FetchError::Connect(msg)
    } else {
        FetchError::Transport(msg)
    }
}
