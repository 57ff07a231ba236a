//! demo (service 2): Personalised demos: generated prompt, mock tools, branded chat page, feedback, approval.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "demo", number: "2",
    summary: "Personalised demos: generated prompt, mock tools, branded chat page, feedback, approval",
    status: Planned, http: 8103, grpc: 9103, database: "demo",
    publishes: [topic::DEMO],
    consumes: [topic::RESEARCH],
    prefixes: ["/api/v1/demos"],
    build: kit::planned,
}
