//! research (service 1): Prospect research jobs, sources, reports, RAG chat, mystery shopping, outreach.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "research", number: "1",
    summary: "Prospect research jobs, sources, reports, RAG chat, mystery shopping, outreach",
    status: Planned, http: 8102, grpc: 9102, database: "research",
    publishes: [topic::RESEARCH],
    consumes: [topic::ORG],
    prefixes: ["/api/v1/research"],
    build: kit::planned,
}
