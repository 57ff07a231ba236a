//! monitoring (service 11): AI quality signals, alert rules, alerts with supervision, service SLOs.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "monitoring", number: "11",
    summary: "AI quality signals, alert rules, alerts with supervision, service SLOs",
    status: Planned, http: 8111, grpc: 9111, database: "monitoring",
    publishes: [topic::MONITORING],
    consumes: [topic::CONVERSATION, topic::VOICE, topic::SUPPORT],
    prefixes: ["/api/v1/monitoring"],
    build: kit::planned,
}
