//! feedback (service -): Ratings, comments, recommendation outcomes, CSAT/NPS, sentiment, analytics, export.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "feedback", number: "-",
    summary: "Ratings, comments, recommendation outcomes, CSAT/NPS, sentiment, analytics, export",
    status: Planned, http: 8117, grpc: 9117, database: "feedback",
    publishes: [topic::FEEDBACK],
    consumes: [topic::RESEARCH, topic::DEMO, topic::PROPOSAL, topic::SUPPORT],
    prefixes: ["/api/v1/feedback", "/api/v1/surveys"],
    build: kit::planned,
}
