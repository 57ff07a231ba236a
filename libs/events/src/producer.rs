use std::time::Duration;

use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::RDKafkaErrorCode,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer as _},
};

use crate::EventsError;

/// Connection settings shared by producers and consumers.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap: String,
    /// Consumer-group timings. Tansu completes a group join only after the group's rebalance
    /// timeout, so local runs and tests set these low; a real Kafka cluster keeps defaults.
    pub session_timeout_ms: u32,
    pub max_poll_interval_ms: u32,
    /// How long a fetch may wait for data. Kafka answers a waiting fetch as soon as data
    /// arrives; Tansu waits the full time, so locally it bounds consumer latency.
    pub fetch_wait_max_ms: u32,
    /// Prepended to every topic and consumer group this process uses: separates fleets that
    /// share a broker (tests, several developers on one Kafka). Empty in a cluster.
    pub namespace: String,
}

impl KafkaConfig {
    /// The broker-side name of a logical topic (`auth_events`).
    pub fn topic(&self, logical: &str) -> String {
        format!("{}{logical}", self.namespace)
    }
}

impl KafkaConfig {
    pub fn new(bootstrap: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            session_timeout_ms: 45_000,
            max_poll_interval_ms: 300_000,
            fetch_wait_max_ms: 500,
            namespace: String::new(),
        }
    }
}

/// An idempotent producer (`enable.idempotence`, `acks=all`): broker-side deduplication of
/// retried sends and per-partition order. One per process, shared by its services.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    namespace: String,
}

impl Producer {
    pub fn new(cfg: &KafkaConfig) -> Result<Self, EventsError> {
        let inner: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &cfg.bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "30000")
            .set("socket.keepalive.enable", "true")
            .create()?;
        Ok(Producer {
            inner,
            namespace: cfg.namespace.clone(),
        })
    }

    /// Sends one message and waits for the broker's acknowledgement.
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<(i32, i64), EventsError> {
        let mut h = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in headers {
            h = h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let record = FutureRecord::to(topic).key(key).payload(payload).headers(h);
        let delivery = self
            .inner
            .send(record, Duration::from_secs(5))
            .await
            .map_err(|(e, _)| EventsError::Kafka(e))?;
        Ok((delivery.partition, delivery.offset))
    }

    /// The broker-side name of a logical topic (see [`KafkaConfig::namespace`]).
    pub fn topic(&self, logical: &str) -> String {
        format!("{}{logical}", self.namespace)
    }

    /// Readiness probe: broker metadata within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), EventsError> {
        let p = self.inner.clone();
        tokio::task::spawn_blocking(move || p.client().fetch_metadata(None, timeout).map(|_| ()))
            .await
            .map_err(|e| EventsError::Other(e.to_string()))??;
        Ok(())
    }

    /// Waits for in-flight messages (shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.inner.flush(timeout);
    }
}

/// Creates the topics (and their dead-letter topics) that do not exist yet. Development and
/// tests use it; in a cluster the operator's Kafka provisioning owns topics.
pub async fn ensure_topics(
    cfg: &KafkaConfig,
    topics: &[String],
    partitions: i32,
) -> Result<(), EventsError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &cfg.bootstrap)
        .create()?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(new.iter(), &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(EventsError::Other(format!(
                    "creating topic {topic}: {code}"
                )));
            }
        }
    }
    Ok(())
}
