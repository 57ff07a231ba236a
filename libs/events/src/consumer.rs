//! Idempotent consumers with bounded retries and a dead-letter topic.
//!
//! For each message: parse the envelope; in one database transaction record
//! `(consumer, event_id)` in `handled_events` and run the handler — so the effect and the record
//! commit together, and a redelivered event finds its record and is skipped. A handler that
//! keeps failing is retried a bounded number of times, then the message goes to `<topic>.dlq`
//! with the error, is recorded as dead-lettered, and the consumer moves on. Failures of the
//! database itself are not the message's fault: they are retried until the database is back,
//! without sending anything to the DLQ.
//!
//! Each consumer also watches its group: a member that has the group to itself must own every
//! partition of its topics once a rebalance had time to finish. The local broker (Tansu) can
//! leave a restarted member stable with none of them when the previous process died mid-way
//! (its dead member is evicted between the new member's join and sync); such a consumer leaves
//! the group and joins again under a new member id, which the broker then assigns everything.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
};
use sqlx::PgPool;
use store::Scope;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::close::{CLOSE_WITHIN, Closing};
use crate::{
    Envelope, EventsError, KafkaConfig, Producer, dlq_topic, metrics::ConsumerMetrics, trace,
};

/// Why a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message could not be applied (bad data, a broken rule): retried, then dead-lettered.
    #[error("{0}")]
    Failed(String),
    /// A dependency is down: retried until it is back; never dead-lettered.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

impl HandlerError {
    pub fn failed(msg: impl std::fmt::Display) -> Self {
        HandlerError::Failed(msg.to_string())
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => HandlerError::Unavailable(e.to_string()),
            other => HandlerError::Failed(other.to_string()),
        }
    }
}

impl From<store::StoreError> for HandlerError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Database(e) => e.into(),
            other => HandlerError::Failed(other.to_string()),
        }
    }
}

impl From<contracts::events::DecodeError> for HandlerError {
    fn from(e: contracts::events::DecodeError) -> Self {
        HandlerError::Failed(e.to_string())
    }
}

/// Applies one event inside the consumer's transaction. The transaction is already scoped to
/// the event's organisation (RLS); the handler must do all its writes through it.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, tx: &mut store::Tx, event: &Envelope) -> Result<(), HandlerError>;
}

/// Called with each event whose effect has committed.
pub type AppliedHook = Arc<dyn Fn(&Envelope) + Send + Sync>;

/// One consumer of a service.
#[derive(Clone)]
pub struct ConsumerSpec {
    /// Stable name, recorded with each handled event id, e.g. `human-agent.assisted-accounts`.
    pub name: String,
    pub topics: Vec<String>,
    /// Kafka consumer group; by default the name.
    pub group: String,
    pub handler: Arc<dyn Handler>,
    /// Called after an event's effect has committed (metrics, benchmarks).
    pub on_applied: Option<AppliedHook>,
}

impl ConsumerSpec {
    pub fn new(name: impl Into<String>, topics: &[&str], handler: impl Handler) -> Self {
        let name = name.into();
        ConsumerSpec {
            group: name.clone(),
            name,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            handler: Arc::new(handler),
            on_applied: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub kafka: KafkaConfig,
    /// Attempts before a failing message is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub metrics: ConsumerMetrics,
    /// How often the consumer checks that, alone in its group, it owns all its partitions.
    pub watch_every: Duration,
    /// How long it may be alone in its group without all its partitions before it rejoins:
    /// longer than any rebalance of a healthy coordinator takes.
    pub stranded_after: Duration,
}

impl ConsumerConfig {
    pub fn new(kafka: KafkaConfig) -> Self {
        let session = Duration::from_millis(kafka.session_timeout_ms.into());
        let rebalance = session.max(Duration::from_millis(kafka.max_poll_interval_ms.into()));
        ConsumerConfig {
            watch_every: (session / 2).max(Duration::from_secs(1)),
            stranded_after: rebalance * 2 + Duration::from_secs(5),
            kafka,
            max_attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            metrics: ConsumerMetrics::default(),
        }
    }
}

enum Outcome {
    Applied,
    Duplicate,
}

/// Runs `spec` until `shutdown`. Offsets are committed after each message is applied,
/// skipped as a duplicate, or dead-lettered.
pub async fn run_consumer(
    pool: PgPool,
    producer: Producer,
    spec: ConsumerSpec,
    cfg: ConsumerConfig,
    shutdown: CancellationToken,
) -> Result<(), EventsError> {
    let group = cfg.kafka.topic(&spec.group);
    let topics: Vec<String> = spec.topics.iter().map(|t| cfg.kafka.topic(t)).collect();
    let mut member = Member::join(&cfg, &group, &topics)?;
    tracing::info!(consumer = %spec.name, topics = ?spec.topics, "consumer started");
    let mut watch = tokio::time::interval(cfg.watch_every);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    watch.tick().await;
    let mut stranded_since: Option<Instant> = None;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = watch.tick() => None,
            m = member.consumer.recv() => Some(m),
        };
        let Some(msg) = next else {
            if !member.stranded().await {
                stranded_since = None;
            } else if stranded_since.get_or_insert_with(Instant::now).elapsed()
                >= cfg.stranded_after
            {
                tracing::warn!(consumer = %spec.name, group = %group,
                    after_s = cfg.stranded_after.as_secs(),
                    "alone in its consumer group without all its partitions; joining again");
                let old = std::mem::replace(&mut member, Member::join(&cfg, &group, &topics)?);
                old.leave().await;
                stranded_since = None;
            }
            continue;
        };
        let consumer = &member.consumer;
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %spec.name, error = %e, "kafka receive error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let headers = trace::headers(&msg);
        let payload = msg.payload().unwrap_or_default().to_vec();
        let topic = msg.topic().to_string();
        let span = tracing::info_span!("consume", consumer = %spec.name, topic = %topic,
            partition = msg.partition(), offset = msg.offset(), event_type = tracing::field::Empty);
        trace::continue_trace(&span, &headers);
        let done = process(
            &pool, &producer, &spec, &cfg, &topic, &msg, &payload, &shutdown,
        )
        .instrument(span)
        .await;
        if done {
            if let Err(e) = consumer.commit_message(&msg, CommitMode::Async) {
                tracing::warn!(consumer = %spec.name, error = %e, "offset commit failed");
            }
        } else {
            break; // shutting down mid-retry: the message stays uncommitted and comes back
        }
    }
    member.leave().await;
    Ok(())
}

/// One membership of a consumer group: the Kafka consumer, subscribed, and the client id its
/// member id starts with (so it can tell itself apart in the group's member list).
struct Member {
    /// Closed on a thread of its own, whether left or dropped with a cancelled task.
    consumer: Closing<StreamConsumer>,
    client_id: String,
    group: String,
    topics: Vec<String>,
}

impl Member {
    fn join(cfg: &ConsumerConfig, group: &str, topics: &[String]) -> Result<Self, EventsError> {
        let client_id = format!("{group}-{}", Uuid::new_v4().simple());
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &cfg.kafka.bootstrap)
            .set("group.id", group)
            .set("client.id", &client_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                cfg.kafka.session_timeout_ms.to_string(),
            )
            .set(
                "max.poll.interval.ms",
                cfg.kafka.max_poll_interval_ms.to_string(),
            )
            .set("fetch.wait.max.ms", cfg.kafka.fetch_wait_max_ms.to_string())
            // A subscribed topic that does not exist yet (created by another process moments
            // later) is seen at the next metadata refresh: 10 s rather than librdkafka's 5 min.
            .set("topic.metadata.refresh.interval.ms", "10000")
            .set(
                "heartbeat.interval.ms",
                (cfg.kafka.session_timeout_ms / 3).max(100).to_string(),
            )
            .create()?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Member {
            consumer: Closing::new(consumer, "consumer"),
            client_id,
            group: group.to_string(),
            topics: topics.to_vec(),
        })
    }

    /// Whether this member is alone in its group and yet owns fewer partitions than its topics
    /// have. Any error (broker unreachable, topic missing) answers no.
    async fn stranded(&self) -> bool {
        let (consumer, me, group, topics) = (
            self.consumer.share(),
            self.client_id.clone(),
            self.group.clone(),
            self.topics.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let timeout = Duration::from_secs(5);
            let Ok(assigned) = consumer.assignment() else {
                return false;
            };
            let owned = assigned
                .elements()
                .iter()
                .filter(|e| topics.iter().any(|t| t == e.topic()))
                .count();
            let mut partitions = 0;
            for t in &topics {
                let Ok(md) = consumer.fetch_metadata(Some(t), timeout) else {
                    return false;
                };
                partitions += md
                    .topics()
                    .iter()
                    .filter(|m| m.name() == t && m.error().is_none())
                    .map(|m| m.partitions().len())
                    .sum::<usize>();
            }
            if owned >= partitions {
                return false;
            }
            let Ok(list) = consumer.fetch_group_list(Some(&group), timeout) else {
                return false;
            };
            let members: Vec<String> = list
                .groups()
                .iter()
                .filter(|g| g.name() == group)
                .flat_map(|g| g.members().iter().map(|m| m.id().to_string()))
                .collect();
            is_stranded(owned, partitions, &members, &me)
        })
        .await
        .unwrap_or(false)
    }

    /// Leaves the group: the broker is told, and the caller waits for that a bounded time.
    async fn leave(self) {
        self.consumer.close(CLOSE_WITHIN).await;
    }
}

/// A member (whose member id starts with `me`) owning `owned` of its topics' `partitions` is
/// stranded when it is the group's only member and yet owns fewer than all of them.
fn is_stranded(owned: usize, partitions: usize, members: &[String], me: &str) -> bool {
    owned < partitions && matches!(members, [only] if only.starts_with(me))
}

/// Handles one message to completion. Returns false only when interrupted by shutdown.
#[allow(clippy::too_many_arguments)]
async fn process<M: Message>(
    pool: &PgPool,
    producer: &Producer,
    spec: &ConsumerSpec,
    cfg: &ConsumerConfig,
    topic: &str,
    msg: &M,
    payload: &[u8],
    shutdown: &CancellationToken,
) -> bool {
    let (env, event_id) = match parse(payload) {
        Ok(v) => v,
        Err(reason) => {
            dead_letter(producer, spec, topic, msg, payload, &reason, 0).await;
            return true;
        }
    };
    tracing::Span::current().record("event_type", env.event_type.as_str());
    let mut attempt = 0u32;
    let mut delay = cfg.backoff;
    loop {
        match apply(pool, spec, topic, &env, event_id).await {
            Ok(Outcome::Applied) => {
                cfg.metrics.count(&spec.name, "applied");
                if let Ok(at) = time::OffsetDateTime::parse(
                    &env.occurred_at,
                    &time::format_description::well_known::Rfc3339,
                ) {
                    let lag = (time::OffsetDateTime::now_utc() - at)
                        .as_seconds_f64()
                        .max(0.0);
                    cfg.metrics
                        .lag
                        .get_or_create(&crate::metrics::ConsumerName {
                            consumer: spec.name.clone(),
                        })
                        .observe(lag);
                }
                if let Some(f) = &spec.on_applied {
                    f(&env);
                }
                return true;
            }
            Ok(Outcome::Duplicate) => {
                cfg.metrics.count(&spec.name, "duplicate");
                tracing::debug!(event_id = %event_id, "already handled; skipped");
                return true;
            }
            Err(HandlerError::Unavailable(e)) => {
                tracing::warn!(error = %e, "dependency unavailable; retrying");
            }
            Err(HandlerError::Failed(e)) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "handler failed");
                cfg.metrics.count(&spec.name, "retried");
                if attempt >= cfg.max_attempts {
                    cfg.metrics.count(&spec.name, "dead_lettered");
                    dead_letter(producer, spec, topic, msg, payload, &e, attempt).await;
                    record_dead_letter(pool, spec, topic, &env, event_id, &e).await;
                    return true;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(cfg.max_backoff);
    }
}

fn parse(payload: &[u8]) -> Result<(Envelope, Uuid), String> {
    let env: Envelope =
        serde_json::from_slice(payload).map_err(|e| format!("not an event envelope: {e}"))?;
    let id = env
        .event_id
        .parse::<Uuid>()
        .map_err(|_| format!("event_id {:?} is not a UUID", env.event_id))?;
    Ok((env, id))
}

async fn apply(
    pool: &PgPool,
    spec: &ConsumerSpec,
    topic: &str,
    env: &Envelope,
    event_id: Uuid,
) -> Result<Outcome, HandlerError> {
    let scope = match env.organization_id.parse::<Uuid>() {
        Ok(org) => Scope::tenant(org),
        Err(_) => Scope::system(),
    };
    let mut tx = store::begin(pool, scope).await?;
    let fresh = sqlx::query(
        "INSERT INTO handled_events (consumer, event_id, topic, event_type) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&spec.name)
    .bind(event_id)
    .bind(topic)
    .bind(&env.event_type)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(Outcome::Duplicate);
    }
    spec.handler.handle(&mut tx, env).await?;
    tx.commit().await?;
    Ok(Outcome::Applied)
}

async fn dead_letter<M: Message>(
    producer: &Producer,
    spec: &ConsumerSpec,
    topic: &str,
    msg: &M,
    payload: &[u8],
    error: &str,
    attempts: u32,
) {
    let key = msg
        .key()
        .and_then(|k| std::str::from_utf8(k).ok())
        .unwrap_or_default();
    let attempts = attempts.to_string();
    let partition = msg.partition().to_string();
    let offset = msg.offset().to_string();
    let mut headers = vec![
        ("x-error", error),
        ("x-consumer", spec.name.as_str()),
        ("x-original-topic", topic),
        ("x-original-partition", partition.as_str()),
        ("x-original-offset", offset.as_str()),
        ("x-attempts", attempts.as_str()),
    ];
    let original = trace::headers(msg);
    if let Some(tp) = original.get(trace::TRACEPARENT) {
        headers.push((trace::TRACEPARENT, tp.as_str()));
    }
    let dlq = dlq_topic(topic);
    // The DLQ write must not be lost: retry until the broker takes it.
    let mut delay = Duration::from_millis(100);
    loop {
        match producer.send(&dlq, key, payload, &headers).await {
            Ok(_) => break,
            Err(e) => {
                tracing::error!(topic = %dlq, error = %e, "dead-letter publish failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::error!(consumer = %spec.name, topic, error, "message dead-lettered");
}

async fn record_dead_letter(
    pool: &PgPool,
    spec: &ConsumerSpec,
    topic: &str,
    env: &Envelope,
    event_id: Uuid,
    error: &str,
) {
    let r = sqlx::query(
        "INSERT INTO handled_events (consumer, event_id, topic, event_type, outcome, error) \
         VALUES ($1, $2, $3, $4, 'dead_lettered', $5) ON CONFLICT DO NOTHING",
    )
    .bind(&spec.name)
    .bind(event_id)
    .bind(topic)
    .bind(&env.event_type)
    .bind(error)
    .execute(pool)
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "recording dead-lettered event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::is_stranded;

    #[test]
    fn stranded_only_when_alone_and_short_of_partitions() {
        let stranded = is_stranded;
        let me = "g-1f2e";
        let alone = vec![format!("{me}-0c1d")];
        assert!(stranded(0, 3, &alone, me), "alone with nothing");
        assert!(stranded(2, 3, &alone, me), "alone with some");
        assert!(!stranded(3, 3, &alone, me), "alone with all: healthy");
        assert!(!stranded(0, 0, &alone, me), "no partitions (topic missing)");
        let shared = vec![alone[0].clone(), "other-77aa".to_string()];
        assert!(!stranded(1, 3, &shared, me), "others own the rest");
        assert!(
            !stranded(0, 3, &["other-77aa".to_string()], me),
            "not a member yet (joining)"
        );
        assert!(!stranded(0, 3, &[], me), "empty group");
    }
}
