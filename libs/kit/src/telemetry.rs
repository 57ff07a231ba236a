//! Logs and traces: structured logs (JSON in production) through `tracing`, OpenTelemetry spans
//! exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C `traceparent`
//! propagation across HTTP, gRPC and Kafka.
//!
//! A tracer provider is installed even without an exporter so that trace context is generated
//! and propagated (request → outbox → Kafka → consumer) and shows in logs; only export needs the
//! endpoint.
use std::sync::OnceLock;

use opentelemetry::{propagation::Extractor, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{FleetConfig, LogFormat};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs logging and tracing once per process.
pub fn init(cfg: &FleetConfig) -> anyhow::Result<()> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name("fleet")
            .build(),
    );
    if let Some(endpoint) = &cfg.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("fleet");
    opentelemetry::global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set(provider);

    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rdkafka=warn"));
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = match cfg.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().compact())
            .try_init(),
    };
    // A second init (tests starting several services) keeps the first subscriber.
    let _ = result;
    Ok(())
}

/// Flushes spans on shutdown.
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.shutdown();
    }
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` continue the trace of an incoming `traceparent` header, if any.
pub fn continue_http_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    if headers.contains_key("traceparent") {
        let cx = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(headers))
        });
        let _ = span.set_parent(cx);
    }
}
