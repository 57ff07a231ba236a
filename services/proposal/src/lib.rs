//! proposal (service 5): Proposals: generation, collaborative editing, comments, versions, export, e-signature.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "proposal", number: "5",
    summary: "Proposals: generation, collaborative editing, comments, versions, export, e-signature",
    status: Planned, http: 8106, grpc: 9106, database: "proposal",
    publishes: [topic::PROPOSAL],
    consumes: [topic::PRICING, topic::PRD],
    prefixes: ["/api/v1/proposals"],
    build: kit::planned,
}
