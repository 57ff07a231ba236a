//! Redis for services: a pool, exact rate limits, and short-lived state.
use std::time::Duration;

use deadpool_redis::{Config, Runtime};
use problem::Problem;

pub mod keyspace;
pub mod ratelimit;

pub use deadpool_redis::{Connection, Pool};
pub use keyspace::KeySpace;
pub use ratelimit::{Decision, Limit, RateLimiter, Subject};
pub use redis;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis configuration: {0}")]
    Config(String),
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl From<CacheError> for Problem {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::Config(_) => Problem::internal(e),
            // Rate limits and short-lived state fail closed: a 503 the caller can retry,
            // never a silently skipped limit.
            _ => {
                tracing::warn!(error = %e, "redis unavailable");
                Problem::unavailable("a required service is unavailable; retry shortly")
            }
        }
    }
}

/// A pool to `url` (`redis://host:port/db`). Connections open on demand.
pub fn connect(url: &str, max_size: usize) -> Result<Pool, CacheError> {
    let mut cfg = Config::from_url(url);
    cfg.pool = Some(deadpool_redis::PoolConfig {
        max_size,
        timeouts: deadpool_redis::Timeouts {
            wait: Some(Duration::from_secs(2)),
            create: Some(Duration::from_secs(2)),
            recycle: Some(Duration::from_secs(2)),
        },
        ..Default::default()
    });
    cfg.create_pool(Some(Runtime::Tokio1))
        .map_err(|e| CacheError::Config(e.to_string()))
}

/// Readiness probe.
pub async fn ping(pool: &Pool) -> Result<(), CacheError> {
    let mut conn = pool.get().await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(())
}
