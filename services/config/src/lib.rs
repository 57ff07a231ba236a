//! config (service 10): Configuration documents, schemas, per-tenant overrides, feature flags, change streams.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "config", number: "10",
    summary: "Configuration documents, schemas, per-tenant overrides, feature flags, change streams",
    status: Planned, http: 8110, grpc: 9110, database: "config",
    publishes: [topic::CONFIG],
    consumes: [],
    prefixes: ["/api/v1/configs", "/api/v1/schemas", "/api/v1/flags"],
    build: kit::planned,
}
