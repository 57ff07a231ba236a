//! Prometheus metrics, one registry per service (so `/metrics` of each service shows its own,
//! even when the whole fleet runs in one process).
use std::sync::{Arc, Mutex};

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    pub dependency: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~4 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// A service's registry and the runtime's own metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub dependency_up: Family<CheckLabels, Gauge>,
    /// Runs of periodic jobs, and those that failed.
    pub job_runs: Family<JobLabels, Counter>,
    pub job_failures: Family<JobLabels, Counter>,
    pub relay: events::metrics::RelayMetrics,
    pub consumers: events::metrics::ConsumerMetrics,
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_labels(
            [(
                std::borrow::Cow::Borrowed("service"),
                std::borrow::Cow::Owned(service.to_string()),
            )]
            .into_iter(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let dependency_up = Family::<CheckLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            http_latency.clone(),
        );
        registry.register(
            "dependency_up",
            "1 when a dependency (database, kafka, redis) answered the last readiness check",
            dependency_up.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        let job_failures = Family::<JobLabels, Counter>::default();
        registry.register("job_runs", "Runs of periodic jobs", job_runs.clone());
        registry.register(
            "job_failures",
            "Runs of periodic jobs that failed",
            job_failures.clone(),
        );
        let relay = events::metrics::RelayMetrics::default();
        let consumers = events::metrics::ConsumerMetrics::default();
        events::metrics::register(&mut registry, &relay, &consumers);
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
            http_requests,
            http_latency,
            dependency_up,
            job_runs,
            job_failures,
            relay,
            consumers,
        }
    }

    /// Registers a service's own metric.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .register(name, help, metric);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        out
    }
}
