//! support (service 14): Support tickets: AI first answers, escalation, SLA policies, CSAT, macros.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "support", number: "14",
    summary: "Support tickets: AI first answers, escalation, SLA policies, CSAT, macros",
    status: Planned, http: 8113, grpc: 9113, database: "support",
    publishes: [topic::SUPPORT],
    consumes: [topic::RESEARCH, topic::CONVERSATION],
    prefixes: ["/api/v1/support"],
    build: kit::planned,
}
