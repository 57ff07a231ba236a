//! Per-tenant token budgets: so many tokens per tenant per window (a UTC day by default).
//!
//! A call first reserves what it may use — its prompt (by the library's token count) plus its
//! `max_tokens` — and is refused with [`ChatError::BudgetExceeded`] before the provider is
//! called if that does not fit; afterwards the reservation is corrected to what the provider
//! reported. A call without an `organization_id` (the platform's own work) is not charged.
//! Two stores: in memory (one process) and Redis (every replica shares the count).
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use cache::{Pool, redis::Script};
use uuid::Uuid;

use super::error::ChatError;

/// What a reservation took, to settle it later in the same window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub tenant: Uuid,
    pub window: u64,
    pub tokens: u64,
}

#[async_trait]
pub trait TokenBudget: Send + Sync {
    /// Takes `tokens` from `tenant`'s budget, or refuses when they do not fit.
    async fn reserve(&self, tenant: Uuid, tokens: u64) -> Result<Reservation, ChatError>;
    /// Corrects a reservation to the `actual` tokens used (0 gives it all back).
    async fn settle(&self, reservation: Reservation, actual: u64) -> Result<(), ChatError>;
}

/// Fixed windows of `window` length, counted from the Unix epoch (UTC days for a day).
#[derive(Debug, Clone, Copy)]
struct Windows {
    limit: u64,
    window: Duration,
}

impl Windows {
    fn now(&self) -> (u64, Duration) {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let len = self.window.as_millis().max(1);
        let idx = since.as_millis() / len;
        let left = len - since.as_millis() % len;
        (
            u64::try_from(idx).unwrap_or(u64::MAX),
            Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)),
        )
    }

    fn exceeded(&self, used: u64, requested: u64, retry_after: Duration) -> ChatError {
        ChatError::BudgetExceeded {
            limit: self.limit,
            used,
            requested,
            retry_after,
        }
    }
}

/// One process's budgets, in memory.
pub struct MemoryBudget {
    windows: Windows,
    used: Mutex<HashMap<Uuid, (u64, u64)>>,
}

impl MemoryBudget {
    pub fn new(limit: u64, window: Duration) -> Self {
        MemoryBudget {
            windows: Windows { limit, window },
            used: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl TokenBudget for MemoryBudget {
    async fn reserve(&self, tenant: Uuid, tokens: u64) -> Result<Reservation, ChatError> {
        let (window, left) = self.windows.now();
        // One lock for check-and-take, so concurrent calls cannot both fit into the last room;
        // held for map operations only, never across an await.
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let entry = used.entry(tenant).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1.saturating_add(tokens) > self.windows.limit {
            return Err(self.windows.exceeded(entry.1, tokens, left));
        }
        entry.1 += tokens;
        Ok(Reservation {
            tenant,
            window,
            tokens,
        })
    }

    async fn settle(&self, r: Reservation, actual: u64) -> Result<(), ChatError> {
        // Same lock as reserve: the correction and a concurrent reservation see one count.
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = used.get_mut(&r.tenant)
            && entry.0 == r.window
        {
            entry.1 = entry.1.saturating_sub(r.tokens).saturating_add(actual);
        }
        Ok(())
    }
}

/// Check-and-take in one script, so replicas reserving at once never overshoot the limit.
const RESERVE: &str = r#"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if used + want > tonumber(ARGV[2]) then return {0, used} end
redis.call('INCRBY', KEYS[1], want)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, used + want}
"#;

/// Budgets shared by every replica, in Redis (keys `<prefix>:llm-tokens:<tenant>:<window>`).
pub struct RedisBudget {
    pool: Pool,
    prefix: String,
    windows: Windows,
    script: Script,
}

impl RedisBudget {
    pub fn new(pool: Pool, prefix: impl Into<String>, limit: u64, window: Duration) -> Self {
        RedisBudget {
            pool,
            prefix: prefix.into(),
            windows: Windows { limit, window },
            script: Script::new(RESERVE),
        }
    }

    /// Kept a window past its end, so a late settle still finds it.
    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.windows.window.as_millis().saturating_mul(2)).unwrap_or(u64::MAX)
    }

    fn key(&self, tenant: Uuid, window: u64) -> String {
        format!("{}:llm-tokens:{tenant}:{window}", self.prefix)
    }
}

fn unavailable(e: impl std::fmt::Display) -> ChatError {
    // Budgets fail closed: without the count no call is admitted.
    tracing::warn!(error = %e, "token budget store unavailable");
    ChatError::Provider {
        status: None,
        message: "the token budget store is unavailable".into(),
    }
}

#[async_trait]
impl TokenBudget for RedisBudget {
    async fn reserve(&self, tenant: Uuid, tokens: u64) -> Result<Reservation, ChatError> {
        let (window, left) = self.windows.now();
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        let (ok, used): (i64, u64) = self
            .script
            .key(self.key(tenant, window))
            .arg(tokens)
            .arg(self.windows.limit)
            .arg(self.ttl_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if ok == 0 {
            return Err(self.windows.exceeded(used, tokens, left));
        }
        Ok(Reservation {
            tenant,
            window,
            tokens,
        })
    }

    async fn settle(&self, r: Reservation, actual: u64) -> Result<(), ChatError> {
        let delta =
            i64::try_from(actual).unwrap_or(i64::MAX) - i64::try_from(r.tokens).unwrap_or(i64::MAX);
        if delta == 0 {
            return Ok(());
        }
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        let key = self.key(r.tenant, r.window);
        // The expiry again: a settle after the key expired must not leave a key forever.
        let _: () = cache::redis::pipe()
            .cmd("INCRBY")
            .arg(&key)
            .arg(delta)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(self.ttl_ms())
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
