//! proposal (service 5): Proposals: generation, collaborative editing, comments, versions, export, e-signature.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

kit::service! {
    name: "proposal", number: "5",
    summary: "Proposals: generation, collaborative editing, comments, versions, export, e-signature",
    status: Planned, http: 8106, grpc: 9106, database: "proposal",
    publishes: ["proposal_events"],
    consumes: ["pricing_events", "prd_events"],
    prefixes: ["/api/v1/proposals"],
    build: kit::planned,
}
