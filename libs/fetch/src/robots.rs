//! robots.txt (RFC 9309, parsed by texting_robots), cached per origin. A missing file (4xx)
//! allows everything; an unreachable one (5xx, network error, timeout) disallows everything
//! until it is fetched again.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use texting_robots::Robot;

/// What one origin's robots.txt says.
#[derive(Debug)]
pub enum Rules {
    AllowAll,
    DisallowAll,
    Parsed(Box<Robot>),
}

impl Rules {
    /// From a fetched file's status and body, for `agent`.
    pub fn from_answer(agent: &str, status: u16, body: &[u8]) -> Self {
        match status {
            200..=299 => match Robot::new(agent, body) {
                Ok(r) => Rules::Parsed(Box::new(r)),
                // An unparseable file states no rule (RFC 9309 §2.2.2: parse what can be
                // parsed; texting_robots only fails on pathological input).
                Err(_) => Rules::AllowAll,
            },
            400..=499 => Rules::AllowAll,
            _ => Rules::DisallowAll,
        }
    }

    pub fn allowed(&self, url: &str) -> bool {
        match self {
            Rules::AllowAll => true,
            Rules::DisallowAll => false,
            Rules::Parsed(r) => r.allowed(url),
        }
    }

    /// The crawl-delay, capped at `cap` (a site may not stall a caller indefinitely; the pacer
    /// then refuses rather than waits beyond its maximum).
    pub fn delay(&self, cap: Duration) -> Duration {
        match self {
            Rules::Parsed(r) => r
                .delay
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(|d| Duration::from_secs_f32(d).min(cap))
                .unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }
}

/// Rules per origin, kept for a time-to-live; at most `cap` origins.
#[derive(Debug)]
pub struct RobotsCache {
    // A std mutex around a map lookup or insert, never held across the fetch of a file: two
    // first requests to one origin may both fetch it, which costs one extra small request and
    // keeps the lock free of I/O.
    entries: Mutex<HashMap<String, (Instant, Arc<Rules>)>>,
    cap: usize,
}

impl RobotsCache {
    pub fn new(cap: usize) -> Self {
        RobotsCache {
            entries: Mutex::new(HashMap::new()),
            cap: cap.max(1),
        }
    }

    /// The cached rules for `origin`, if still fresh.
    pub fn get(&self, origin: &str) -> Option<Arc<Rules>> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(origin)
            .filter(|(until, _)| *until > now)
            .map(|(_, r)| r.clone())
    }

    /// Stores `rules` for `origin` until `ttl` from now.
    pub fn put(&self, origin: &str, rules: Arc<Rules>, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.contains_key(origin) && entries.len() >= self.cap {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= self.cap
                && let Some(k) = entries
                    .iter()
                    .min_by_key(|(_, (until, _))| *until)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&k);
            }
        }
        entries.insert(origin.to_string(), (now + ttl, rules));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_rules_as_rfc_9309_says() {
        let txt = b"User-agent: *\nDisallow: /private\nCrawl-delay: 2\n";
        let r = Rules::from_answer("fleet", 200, txt);
        assert!(r.allowed("http://a/public"));
        assert!(!r.allowed("http://a/private/x"));
        assert_eq!(r.delay(Duration::from_secs(60)), Duration::from_secs(2));
        assert_eq!(r.delay(Duration::from_secs(1)), Duration::from_secs(1));
        assert!(Rules::from_answer("fleet", 404, b"").allowed("http://a/x"));
        assert!(!Rules::from_answer("fleet", 503, b"").allowed("http://a/x"));
    }
}
