//! Kafka for services: the idempotent producer, the outbox relay, idempotent consumers with
//! dead-letter topics, and W3C trace context in message headers (ARCHITECTURE §6).
mod broadcast;
mod close;
mod consumer;
pub mod metrics;
mod producer;
mod relay;
mod trace;

pub use broadcast::follow;
pub use consumer::{ConsumerConfig, ConsumerSpec, Handler, HandlerError, run_consumer};
pub use contracts::events::{Envelope, Event};
pub use producer::{KafkaConfig, Producer, ensure_topics};
pub use relay::{Batch, Relay, RelayConfig};
pub use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

/// The dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}
