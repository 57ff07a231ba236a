//! Prometheus metrics of the relay and the consumers; the service kit registers them in the
//! service's registry.
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Default)]
pub struct RelayMetrics {
    pub published: Counter,
    pub failed: Counter,
    /// Rows not yet sent.
    pub pending: Gauge,
    /// Age of the oldest unsent row, in milliseconds.
    pub lag_ms: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    pub consumer: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerName {
    pub consumer: String,
}

fn lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

#[derive(Clone, Debug)]
pub struct ConsumerMetrics {
    /// Messages by outcome: applied, duplicate, dead_lettered, retried.
    pub messages: Family<ConsumerLabels, Counter>,
    /// Seconds from the event's `occurred_at` to its effect committing.
    pub lag: Family<ConsumerName, Histogram, fn() -> Histogram>,
}

impl Default for ConsumerMetrics {
    fn default() -> Self {
        ConsumerMetrics {
            messages: Family::default(),
            lag: Family::new_with_constructor(lag_histogram),
        }
    }
}

impl ConsumerMetrics {
    pub fn count(&self, consumer: &str, outcome: &str) {
        self.messages
            .get_or_create(&ConsumerLabels {
                consumer: consumer.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }
}

/// Registers both sets in `registry`.
pub fn register(registry: &mut Registry, relay: &RelayMetrics, consumers: &ConsumerMetrics) {
    registry.register(
        "outbox_published",
        "Outbox rows published to Kafka",
        relay.published.clone(),
    );
    registry.register(
        "outbox_publish_failures",
        "Outbox publish attempts that failed",
        relay.failed.clone(),
    );
    registry.register(
        "outbox_pending",
        "Outbox rows not yet published",
        relay.pending.clone(),
    );
    registry.register(
        "outbox_lag_milliseconds",
        "Age of the oldest unpublished outbox row",
        relay.lag_ms.clone(),
    );
    registry.register(
        "consumer_messages",
        "Consumed messages by outcome",
        consumers.messages.clone(),
    );
    registry.register(
        "consumer_lag_seconds",
        "Time from an event's occurrence to its effect committing",
        consumers.lag.clone(),
    );
}
