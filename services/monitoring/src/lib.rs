//! monitoring (service 11): AI quality signals, alert rules, alerts with supervision, service SLOs.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

kit::service! {
    name: "monitoring", number: "11",
    summary: "AI quality signals, alert rules, alerts with supervision, service SLOs",
    status: Planned, http: 8111, grpc: 9111, database: "monitoring",
    publishes: ["monitoring_events"],
    consumes: ["conversation_events", "voice_events", "support_events"],
    prefixes: ["/api/v1/monitoring"],
    build: kit::planned,
}
