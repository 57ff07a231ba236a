//! prd (service 6): Product requirements documents: drafting, sections, versions, review, requirements graph.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "prd", number: "6",
    summary: "Product requirements documents: drafting, sections, versions, review, requirements graph",
    status: Planned, http: 8107, grpc: 9107, database: "prd",
    publishes: [topic::PRD],
    consumes: [topic::RESEARCH, topic::DEMO],
    prefixes: ["/api/v1/prds"],
    build: kit::planned,
}
