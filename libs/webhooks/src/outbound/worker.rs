//! The delivery worker: claims due deliveries, sends them through `fetch` (SSRF guard, timeouts,
//! no redirects), and records each outcome; failures retry with exponential backoff up to a cap
//! until the delivery's attempts run out.
use std::time::Duration;

use sqlx::FromRow;
use store::{PgPool, Scope};
use uuid::Uuid;

use crate::{WebhookError, outbound::Signer};

/// Delay before retry `n` (1-based): `base · 2^(n-1)`, at most `cap`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    /// 10 s, 20 s, 40 s … up to an hour.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    pub fn after(&self, attempts: i32) -> Duration {
        let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
        self.base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.cap)
    }
}

#[derive(Debug, FromRow)]
struct Claimed {
    delivery_id: Uuid,
    url: String,
    event_type: String,
    body: String,
    attempts: i32,
    max_attempts: i32,
}

/// What one attempt came to.
enum Outcome {
    Delivered(u16),
    /// Retry later (unless attempts are exhausted).
    Retry(Option<u16>, String),
    /// Never retried: the destination is refused.
    Permanent(String),
}

/// Sends the service's pending deliveries. Run [`Deliverer::run_once`] from a periodic job
/// (`kit::Job::every`); several replicas may run it at once.
#[derive(Clone)]
pub struct Deliverer {
    pool: PgPool,
    fetcher: fetch::Fetcher,
    signer: Signer,
    backoff: Backoff,
    batch: i64,
}

impl Deliverer {
    pub fn new(pool: PgPool, fetcher: fetch::Fetcher, signer: Signer) -> Self {
        Deliverer {
            pool,
            fetcher,
            signer,
            backoff: Backoff::default(),
            batch: 16,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Attempts every due delivery once (a batch, concurrently); returns how many.
    pub async fn run_once(&self) -> Result<usize, WebhookError> {
        let claimed = self.claim().await?;
        let n = claimed.len();
        let results = futures::future::join_all(claimed.into_iter().map(|c| self.attempt(c))).await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(n)
    }

    /// Takes a batch of due deliveries: counts the attempt and pushes `next_attempt_at` past the
    /// attempt's longest duration (a lease), in a short transaction of its own, so no
    /// transaction stays open during HTTP calls and a crashed worker's claims come due again.
    /// `SKIP LOCKED` lets replicas claim disjoint batches. System scope: the worker serves
    /// every tenant's deliveries.
    async fn claim(&self) -> Result<Vec<Claimed>, WebhookError> {
        let lease = self.fetcher.config().total_timeout + Duration::from_secs(30);
        let mut tx = store::begin(&self.pool, Scope::system()).await?;
        let rows = sqlx::query_as::<_, Claimed>(
            "UPDATE webhook_deliveries d \
                SET attempts = d.attempts + 1, updated_at = now(), \
                    next_attempt_at = now() + make_interval(secs => $2) \
              WHERE d.delivery_id IN ( \
                    SELECT delivery_id FROM webhook_deliveries \
                     WHERE status = 'pending' AND next_attempt_at <= now() \
                     ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
          RETURNING d.delivery_id, d.url, d.event_type, d.body, d.attempts, d.max_attempts",
        )
        .bind(self.batch)
        .bind(lease.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn attempt(&self, c: Claimed) -> Result<(), WebhookError> {
        let outcome = self.send(&c).await;
        self.record(&c, outcome).await
    }

    async fn send(&self, c: &Claimed) -> Outcome {
        let url = match fetch::Url::parse(&c.url) {
            Ok(u) => u,
            Err(e) => return Outcome::Permanent(format!("invalid URL: {e}")),
        };
        let headers = match self
            .signer
            .headers(c.delivery_id, &c.event_type, c.body.as_bytes())
        {
            Ok(h) => h,
            Err(e) => return Outcome::Permanent(e.to_string()),
        };
        let body = bytes::Bytes::from(c.body.clone());
        match self.fetcher.post(&url, headers, body).await {
            Ok(p) if (200..300).contains(&p.status) => Outcome::Delivered(p.status),
            Ok(p) => Outcome::Retry(Some(p.status), format!("HTTP {}", p.status)),
            Err(
                e @ (fetch::FetchError::Blocked { .. }
                | fetch::FetchError::InvalidUrl(_)
                | fetch::FetchError::BadScheme(_)),
            ) => Outcome::Permanent(e.to_string()),
            Err(e) => Outcome::Retry(None, e.to_string()),
        }
    }

    async fn record(&self, c: &Claimed, outcome: Outcome) -> Result<(), WebhookError> {
        match outcome {
            Outcome::Delivered(status) => self.mark_delivered(c, status).await,
            Outcome::Retry(status, error) => self.mark_failed(c, status, &error, false).await,
            Outcome::Permanent(error) => self.mark_failed(c, None, &error, true).await,
        }
    }

    async fn mark_delivered(&self, c: &Claimed, status: u16) -> Result<(), WebhookError> {
        let mut tx = store::begin(&self.pool, Scope::system()).await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), \
               updated_at = now(), last_status_code = $2, last_error = NULL \
             WHERE delivery_id = $1",
        )
        .bind(c.delivery_id)
        .bind(i32::from(status))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Schedules the next attempt after the backoff, or gives up when the failure is
    /// permanent or the attempts are spent.
    async fn mark_failed(
        &self,
        c: &Claimed,
        status: Option<u16>,
        error: &str,
        permanent: bool,
    ) -> Result<(), WebhookError> {
        let give_up = permanent || c.attempts >= c.max_attempts;
        let delay = self.backoff.after(c.attempts);
        tracing::info!(
            delivery = %c.delivery_id, attempts = c.attempts, give_up, error,
            "webhook delivery failed"
        );
        let mut tx = store::begin(&self.pool, Scope::system()).await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET \
               status = CASE WHEN $2 THEN 'failed' ELSE 'pending' END, \
               next_attempt_at = now() + make_interval(secs => $3), \
               last_status_code = $4, last_error = $5, updated_at = now() \
             WHERE delivery_id = $1",
        )
        .bind(c.delivery_id)
        .bind(give_up)
        .bind(delay.as_secs_f64())
        .bind(status.map(i32::from))
        .bind(error.chars().take(500).collect::<String>())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
