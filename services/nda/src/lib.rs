//! nda (service 3): NDAs: templates, PDF, e-signature workflow, reminders, audit trail.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "nda", number: "3",
    summary: "NDAs: templates, PDF, e-signature workflow, reminders, audit trail",
    status: Planned, http: 8104, grpc: 9104, database: "nda",
    publishes: [topic::NDA],
    consumes: [topic::DEMO],
    prefixes: ["/api/v1/ndas"],
    build: kit::planned,
}
