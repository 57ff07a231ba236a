//! The outbox relay: publishes rows written by [`store::outbox`] and marks them sent.
//!
//! Order of work per batch, in one transaction: take the relay lock, read unsent rows in id
//! order, publish them, mark them sent, commit. A crash after publishing and before the commit
//! leaves the rows unsent, so they are published again: at-least-once, and consumers
//! deduplicate on `event_id`. The transaction-scoped advisory lock keeps a single active relay
//! per database even with several replicas, which preserves each tenant's order.
use std::time::Duration;

use futures::future::join_all;
use sqlx::{PgPool, Row, postgres::PgListener};
use tokio_util::sync::CancellationToken;

use crate::{EventsError, Producer, metrics::RelayMetrics, trace::TRACEPARENT};

/// Arbitrary constant naming the relay's advisory lock.
const RELAY_LOCK: i64 = 0x6f75_7462_6f78; // "outbox"

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows per batch.
    pub batch: i64,
    /// Fallback poll when no notification arrives (a missed NOTIFY, a relay that lost its lock).
    pub poll_interval: Duration,
    /// Sent rows are kept this long for inspection, then deleted.
    pub retention: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 256,
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 86_400),
        }
    }
}

#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    producer: Producer,
    cfg: RelayConfig,
    metrics: RelayMetrics,
}

struct Row_ {
    id: i64,
    topic: String,
    key: String,
    payload: String,
    trace_parent: Option<String>,
}

/// Rows claimed by one relay transaction. Dropping it without [`Relay::mark_sent`] rolls back,
/// exactly as a crash would.
pub struct Batch {
    tx: store::Tx,
    rows: Vec<Row_>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Relay {
    pub fn new(pool: PgPool, producer: Producer, cfg: RelayConfig) -> Self {
        Relay {
            pool,
            producer,
            cfg,
            metrics: RelayMetrics::default(),
        }
    }

    /// Reports into `metrics` (registered by the caller).
    pub fn with_metrics(mut self, metrics: RelayMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Updates the pending-rows and lag gauges.
    pub async fn observe_backlog(&self) -> Result<(), EventsError> {
        let (pending, lag_ms): (i64, f64) = sqlx::query_as(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)) * 1000, 0)::float8 \
             FROM outbox WHERE sent_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        self.metrics.pending.set(pending);
        self.metrics.lag_ms.set(lag_ms as i64);
        Ok(())
    }

    /// Claims the next batch of unsent rows (empty if another relay holds the lock).
    pub async fn claim(&self) -> Result<Batch, EventsError> {
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(RELAY_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(Batch {
                tx,
                rows: Vec::new(),
            });
        }
        let rows = sqlx::query(
            "SELECT id, topic, msg_key, payload::text AS payload, trace_parent FROM outbox \
             WHERE sent_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(self.cfg.batch)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| Row_ {
            id: r.get("id"),
            topic: r.get("topic"),
            key: r.get("msg_key"),
            payload: r.get("payload"),
            trace_parent: r.get("trace_parent"),
        })
        .collect();
        Ok(Batch { tx, rows })
    }

    /// Publishes every row of the batch; returns the ids acknowledged by the broker.
    pub async fn publish(&self, batch: &Batch) -> Vec<(i64, Result<(), String>)> {
        let sends = batch.rows.iter().map(|r| async move {
            let mut headers = Vec::with_capacity(1);
            if let Some(tp) = r.trace_parent.as_deref() {
                headers.push((TRACEPARENT, tp));
            }
            let res = self
                .producer
                .send(
                    &self.producer.topic(&r.topic),
                    &r.key,
                    r.payload.as_bytes(),
                    &headers,
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            (r.id, res)
        });
        join_all(sends).await
    }

    /// Marks the published rows sent, records failures, and commits.
    pub async fn mark_sent(
        &self,
        mut batch: Batch,
        results: Vec<(i64, Result<(), String>)>,
    ) -> Result<usize, EventsError> {
        let sent: Vec<i64> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(id, _)| *id)
            .collect();
        sqlx::query(
            "UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
        )
        .bind(&sent)
        .execute(&mut *batch.tx)
        .await?;
        for (id, err) in results
            .iter()
            .filter_map(|(id, r)| r.as_ref().err().map(|e| (id, e)))
        {
            tracing::warn!(outbox_id = id, error = %err, "outbox publish failed; will retry");
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
                .bind(id)
                .bind(err)
                .execute(&mut *batch.tx)
                .await?;
        }
        batch.tx.commit().await?;
        self.metrics.published.inc_by(sent.len() as u64);
        self.metrics
            .failed
            .inc_by((results.len() - sent.len()) as u64);
        Ok(sent.len())
    }

    /// One claim → publish → mark cycle; returns the number of rows sent.
    pub async fn run_once(&self) -> Result<usize, EventsError> {
        let batch = self.claim().await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let results = self.publish(&batch).await;
        self.mark_sent(batch, results).await
    }

    /// Publishes until nothing is pending (or a batch fully fails).
    pub async fn drain(&self) -> Result<usize, EventsError> {
        let mut total = 0;
        loop {
            let n = self.run_once().await?;
            total += n;
            if n < usize::try_from(self.cfg.batch).unwrap_or(usize::MAX) {
                return Ok(total);
            }
        }
    }

    /// Deletes sent rows older than the retention.
    pub async fn prune(&self) -> Result<u64, EventsError> {
        let secs = self.cfg.retention.as_secs_f64();
        let r = sqlx::query(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1)",
        )
        .bind(secs)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Runs until `shutdown`: drains on every NOTIFY from the outbox trigger, and at the poll
    /// interval in case one was missed. Survives database outages by reconnecting.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener: Option<PgListener> = None;
        let mut last_prune = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            if listener.is_none() {
                listener = match PgListener::connect_with(&self.pool).await {
                    Ok(mut l) => match l.listen("outbox").await {
                        Ok(()) => Some(l),
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox listen failed");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::debug!(error = %e, "outbox listener cannot connect yet");
                        None
                    }
                };
            }
            match self.drain().await {
                Ok(_) => {
                    backoff = Duration::from_millis(200);
                    let _ = self.observe_backlog().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay cycle failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = tokio::time::Instant::now();
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "outbox prune failed");
                }
            }
            let wait = tokio::time::sleep(self.cfg.poll_interval);
            match listener.as_mut() {
                Some(l) => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = wait => {}
                    r = l.recv() => if let Err(e) = r {
                        tracing::warn!(error = %e, "outbox listener lost; reconnecting");
                        listener = None;
                    },
                },
                None => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = wait => {}
                },
            }
        }
        self.producer.flush(Duration::from_secs(5));
    }
}
