//! A topic read whole by every process, for state each one holds in memory (the revocation
//! list): a consumer group of its own per process, so no other process shares its partitions,
//! starting from the earliest offset and committing nothing — every start reads the topic
//! again. Only for small topics whose events expire (their producer keeps them short).
use std::time::Duration;

use rdkafka::{
    ClientConfig, Message,
    consumer::{Consumer, StreamConsumer},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::close::{CLOSE_WITHIN, Closing};
use crate::{Envelope, EventsError, KafkaConfig};

/// Reads `topic` (the logical name) from its beginning until `shutdown`, handing each
/// envelope to `on`. Messages that are not envelopes are skipped with a warning: nothing here
/// can be dead-lettered, and one bad message must not stop the others.
pub async fn follow(
    kafka: &KafkaConfig,
    name: &str,
    topic: &str,
    mut on: impl FnMut(Envelope) + Send,
    shutdown: CancellationToken,
) -> Result<(), EventsError> {
    let topic = kafka.topic(topic);
    let group = format!("{}-{}", kafka.topic(name), Uuid::new_v4().simple());
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap)
        .set("group.id", &group)
        .set("client.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", kafka.session_timeout_ms.to_string())
        .set(
            "max.poll.interval.ms",
            kafka.max_poll_interval_ms.to_string(),
        )
        .set("fetch.wait.max.ms", kafka.fetch_wait_max_ms.to_string())
        .set("topic.metadata.refresh.interval.ms", "10000")
        .set(
            "heartbeat.interval.ms",
            (kafka.session_timeout_ms / 3).max(100).to_string(),
        )
        .create()?;
    consumer.subscribe(&[&topic])?;
    // Closed on a thread of its own, whether this returns or its task is dropped.
    let consumer = Closing::new(consumer, "broadcast reader");
    tracing::info!(reader = name, topic = %topic, "following from the start");
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = consumer.recv() => m,
        };
        match msg {
            Ok(m) => match serde_json::from_slice::<Envelope>(m.payload().unwrap_or_default()) {
                Ok(env) => on(env),
                Err(e) => tracing::warn!(reader = name, offset = m.offset(), error = %e,
                    "skipping a message that is not an event envelope"),
            },
            Err(e) => {
                tracing::warn!(reader = name, error = %e, "kafka receive error");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // Closing tells the broker the member left (waiting for that a bounded time).
    consumer.close(CLOSE_WITHIN).await;
    Ok(())
}
