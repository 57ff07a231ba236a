//! Replay protection by delivery id: the first sighting of `(source, id)` within the window is
//! accepted, any later one refused. In memory (bounded) for one process, or in Redis (`SET NX`
//! with a TTL, through `cache`) across replicas.
use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;

use crate::WebhookError;

/// Where delivery ids are remembered.
#[async_trait]
pub trait ReplayGuard: Send + Sync {
    /// True the first time `(source, id)` is seen within the window, false afterwards.
    async fn first_seen(&self, source: &str, id: &str) -> Result<bool, WebhookError>;
}

/// Refuses `(source, id)` if it was seen before: [`WebhookError::Replayed`].
pub async fn check(guard: &dyn ReplayGuard, source: &str, id: &str) -> Result<(), WebhookError> {
    if id.is_empty() || id.len() > 256 {
        return Err(WebhookError::BadBody(
            "the delivery id must be 1–256 characters".into(),
        ));
    }
    if guard.first_seen(source, id).await? {
        Ok(())
    } else {
        Err(WebhookError::Replayed { id: id.to_string() })
    }
}

/// One process's memory of delivery ids for `ttl`, at most `cap` of them. When full of
/// unexpired ids the oldest is forgotten first: size `cap` above the deliveries a window holds.
#[derive(Debug)]
pub struct MemoryReplay {
    // A std mutex: the critical section is a few map operations with no await inside.
    seen: Mutex<Seen>,
    ttl: Duration,
    cap: usize,
}

#[derive(Debug, Default)]
struct Seen {
    ids: HashMap<String, Instant>,
    // Insertion order; with one TTL for all, also expiry order.
    order: VecDeque<(Instant, String)>,
}

impl MemoryReplay {
    pub fn new(ttl: Duration, cap: usize) -> Self {
        MemoryReplay {
            seen: Mutex::new(Seen::default()),
            ttl,
            cap: cap.max(1),
        }
    }
}

impl Default for MemoryReplay {
    /// A day's window, 100 000 ids.
    fn default() -> Self {
        Self::new(Duration::from_secs(86_400), 100_000)
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplay {
    async fn first_seen(&self, source: &str, id: &str) -> Result<bool, WebhookError> {
        let key = format!("{source}\u{0}{id}");
        let now = Instant::now();
        let mut s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((exp, k)) = s.order.front().cloned() {
            if exp > now && s.order.len() < self.cap {
                break;
            }
            s.order.pop_front();
            if s.ids.get(&k) == Some(&exp) {
                s.ids.remove(&k);
            }
        }
        if s.ids.get(&key).is_some_and(|exp| *exp > now) {
            return Ok(false);
        }
        let exp = now + self.ttl;
        s.ids.insert(key.clone(), exp);
        s.order.push_back((exp, key));
        Ok(true)
    }
}

/// Delivery ids in Redis: `SET <namespace>webhook-replay:<source>:<id> 1 NX PX <ttl>`, so every
/// replica sees the same sightings and they expire on their own.
pub struct RedisReplay {
    pool: cache::Pool,
    namespace: String,
    ttl: Duration,
}

impl RedisReplay {
    /// `namespace` is the fleet's Redis key prefix (`FLEET_RATE_LIMIT_NAMESPACE`).
    pub fn new(pool: cache::Pool, namespace: impl Into<String>, ttl: Duration) -> Self {
        RedisReplay {
            pool,
            namespace: namespace.into(),
            ttl,
        }
    }
}

#[async_trait]
impl ReplayGuard for RedisReplay {
    async fn first_seen(&self, source: &str, id: &str) -> Result<bool, WebhookError> {
        let mut conn = self.pool.get().await.map_err(cache::CacheError::from)?;
        let key = format!("{}webhook-replay:{source}:{id}", self.namespace);
        let set: Option<String> = cache::redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await
            .map_err(cache::CacheError::from)?;
        Ok(set.is_some())
    }
}
