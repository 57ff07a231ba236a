//! prd (service 6): Product requirements documents: drafting, sections, versions, review, requirements graph.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

kit::service! {
    name: "prd", number: "6",
    summary: "Product requirements documents: drafting, sections, versions, review, requirements graph",
    status: Planned, http: 8107, grpc: 9107, database: "prd",
    publishes: ["prd_events"],
    consumes: ["research_events", "demo_events"],
    prefixes: ["/api/v1/prds"],
    build: kit::planned,
}
