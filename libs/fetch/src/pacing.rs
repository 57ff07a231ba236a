//! The per-host rate limit: requests to one origin are spaced at least an interval apart (the
//! configured one, or the site's robots.txt crawl-delay when longer). In-process and bounded.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::FetchError;

/// The next free slot per origin. At most `cap` origins are remembered: past slots are dropped
/// first, then the earliest.
#[derive(Debug)]
pub struct Pacer {
    // A std mutex: held only for a map update, never across an await, so it cannot stall the
    // runtime; one lock for all hosts is simpler than sharding and is not contended at the
    // request rates a fetcher sees.
    slots: Mutex<HashMap<String, Instant>>,
    cap: usize,
    max_wait: Duration,
}

impl Pacer {
    pub fn new(cap: usize, max_wait: Duration) -> Self {
        Pacer {
            slots: Mutex::new(HashMap::new()),
            cap: cap.max(1),
            max_wait,
        }
    }

    /// Reserves the next slot for `origin`, `interval` after the one before it, and returns how
    /// long the caller must wait for it. A wait beyond the configured maximum reserves nothing
    /// and is refused as [`FetchError::RateLimited`].
    pub fn reserve(&self, origin: &str, interval: Duration) -> Result<Duration, FetchError> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let next = slots.get(origin).copied().unwrap_or(now).max(now);
        let wait = next - now;
        if wait > self.max_wait {
            return Err(FetchError::RateLimited { retry_after: wait });
        }
        if !slots.contains_key(origin) && slots.len() >= self.cap {
            slots.retain(|_, t| *t > now);
            if slots.len() >= self.cap
                && let Some(k) = slots
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
            {
                slots.remove(&k);
            }
        }
        slots.insert(origin.to_string(), next + interval);
        Ok(wait)
    }

    /// How many origins are remembered.
    pub fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_one_host_are_spaced_by_the_interval() {
        let p = Pacer::new(10, Duration::from_secs(10));
        let i = Duration::from_millis(500);
        assert_eq!(p.reserve("http://a", i).ok(), Some(Duration::ZERO));
        let second = p.reserve("http://a", i).expect("second");
        assert!(second > Duration::from_millis(400), "{second:?}");
        assert_eq!(p.reserve("http://b", i).ok(), Some(Duration::ZERO));
    }

    #[test]
    fn a_wait_beyond_the_maximum_is_refused() {
        let p = Pacer::new(10, Duration::from_millis(100));
        let i = Duration::from_secs(5);
        p.reserve("http://a", i).expect("first");
        assert!(matches!(
            p.reserve("http://a", i),
            Err(FetchError::RateLimited { .. })
        ));
    }

    #[test]
    fn the_map_stays_within_its_bound() {
        let p = Pacer::new(3, Duration::from_secs(10));
        for h in 0..20 {
            p.reserve(&format!("http://h{h}"), Duration::from_secs(1))
                .expect("reserve");
        }
        assert!(p.len() <= 3, "{}", p.len());
    }
}
