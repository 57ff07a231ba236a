//! Sliding-window rate limits, exact under concurrency.
//!
//! Each check is one Lua script run atomically by Redis: it drops the window's expired entries,
//! counts the rest and admits the caller only below the limit. With N allowed, the N+1th caller
//! in any window is refused — however many check at once, across any number of processes — and
//! told how long until the oldest entry leaves the window. Time comes from Redis (`TIME`), so
//! clock skew between replicas cannot widen a window.
use std::time::Duration;

use problem::Problem;
use redis::Script;

use crate::{CacheError, KeySpace, Pool};

const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = window
if oldest[2] then wait = tonumber(oldest[2]) + window - now end
if wait < 1 then wait = 1 end
return {0, 0, wait}
"#;

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn per_second(max: u32) -> Self {
        Limit {
            max,
            window: Duration::from_secs(1),
        }
    }
    pub const fn per_minute(max: u32) -> Self {
        Limit {
            max,
            window: Duration::from_secs(60),
        }
    }
    pub const fn per_hour(max: u32) -> Self {
        Limit {
            max,
            window: Duration::from_secs(3600),
        }
    }
    pub const fn per_day(max: u32) -> Self {
        Limit {
            max,
            window: Duration::from_secs(86_400),
        }
    }
}

/// What a limit is counted per.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Ip(&'a str),
    User(&'a str),
    /// Any other key: a tenant, an email address, a token hash, an agent.
    Key(&'a str),
}

impl Subject<'_> {
    fn render(&self) -> String {
        match self {
            Subject::Ip(v) => format!("ip:{v}"),
            Subject::User(v) => format!("user:{v}"),
            Subject::Key(v) => format!("key:{v}"),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Calls left in the current window after this one.
    pub remaining: u32,
    /// When refused: how long until a call would be admitted.
    pub retry_after: Duration,
}

#[derive(Clone)]
pub struct RateLimiter {
    pool: Pool,
    prefix: String,
    script: Script,
}

impl RateLimiter {
    /// Counters under `keys` (the service's key space: `<service>:rl:…`).
    pub fn new(pool: Pool, keys: &KeySpace) -> Self {
        RateLimiter {
            pool,
            prefix: keys.key("rl"),
            script: Script::new(SCRIPT),
        }
    }

    /// Counts one call of `name` (e.g. "login") for `subject` against `limit`.
    pub async fn check(
        &self,
        name: &str,
        subject: Subject<'_>,
        limit: Limit,
    ) -> Result<Decision, CacheError> {
        let key = format!("{}:{}:{}", self.prefix, name, subject.render());
        let window_ms = u64::try_from(limit.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let member = uuid::Uuid::new_v4().to_string();
        let mut conn = self.pool.get().await?;
        let (allowed, remaining, wait_ms): (i64, i64, i64) = self
            .script
            .key(key)
            .arg(limit.max)
            .arg(window_ms)
            .arg(member)
            .invoke_async(&mut conn)
            .await?;
        Ok(Decision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0),
            retry_after: Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)),
        })
    }

    /// [`check`](Self::check), answering a refusal as 429 with `Retry-After` (whole seconds,
    /// rounded up).
    pub async fn enforce(
        &self,
        name: &str,
        subject: Subject<'_>,
        limit: Limit,
    ) -> Result<Decision, Problem> {
        let d = self.check(name, subject, limit).await?;
        if d.allowed {
            Ok(d)
        } else {
            Err(Problem::rate_limited(
                d.retry_after.as_millis().div_ceil(1000) as u64,
            ))
        }
    }
}
