//! `traceparent` in Kafka headers: producers copy the outbox row's trace context into the
//! message; consumers continue the trace from it.
use std::collections::HashMap;

use opentelemetry::propagation::Extractor;
use rdkafka::message::{Headers, Message};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";

struct MapExtractor(HashMap<String, String>);

impl Extractor for MapExtractor {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Headers of a message as UTF-8 strings (others skipped).
pub fn headers<M: Message>(msg: &M) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(h) = msg.headers() {
        for header in h.iter() {
            if let Some(v) = header.value.and_then(|v| std::str::from_utf8(v).ok()) {
                out.insert(header.key.to_string(), v.to_string());
            }
        }
    }
    out
}

/// Makes `span` a child of the trace the message carries, if any.
pub fn continue_trace(span: &tracing::Span, headers: &HashMap<String, String>) {
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let extractor = MapExtractor(headers.clone());
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&extractor));
    let _ = span.set_parent(cx);
}
