//! orchestration (service 8): AI agent runtime: assistants, threads, streamed runs, checkpoints, interrupts, tools, workflows.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "orchestration", number: "8",
    summary: "AI agent runtime: assistants, threads, streamed runs, checkpoints, interrupts, tools, workflows",
    status: Planned, http: 8108, grpc: 9108, database: "orchestration",
    publishes: [topic::CONVERSATION],
    consumes: [topic::CONFIG],
    prefixes: ["/api/v1/assistants", "/api/v1/threads", "/api/v1/tools", "/api/v1/workflows"],
    build: kit::planned,
}
