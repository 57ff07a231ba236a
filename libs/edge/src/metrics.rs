//! The `prometheus` plugin's metrics, under Kong's names: requests by service, route and
//! status code; total and upstream latency in milliseconds.
use std::sync::Mutex;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Requests {
    service: String,
    route: String,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Latency {
    service: String,
    route: String,
}

fn ms_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<Requests, Counter>,
    latency: Family<Latency, Histogram, fn() -> Histogram>,
    upstream: Family<Latency, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<Requests, Counter>::default();
        let latency: Family<Latency, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(ms_histogram);
        let upstream: Family<Latency, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(ms_histogram);
        let mut registry = Registry::with_prefix("kong");
        registry.register(
            "http_requests",
            "HTTP status codes per service and route",
            requests.clone(),
        );
        registry.register(
            "request_latency_ms",
            "Total latency of requests",
            latency.clone(),
        );
        registry.register(
            "upstream_latency_ms",
            "Latency added by the upstream",
            upstream.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            upstream,
        }
    }
}

impl Metrics {
    pub fn observe(
        &self,
        service: &str,
        route: &str,
        code: u16,
        total_ms: f64,
        upstream_ms: Option<f64>,
    ) {
        self.requests
            .get_or_create(&Requests {
                service: service.to_string(),
                route: route.to_string(),
                code,
            })
            .inc();
        let l = Latency {
            service: service.to_string(),
            route: route.to_string(),
        };
        self.latency.get_or_create(&l).observe(total_ms);
        if let Some(u) = upstream_ms {
            self.upstream.get_or_create(&l).observe(u);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        out
    }
}
