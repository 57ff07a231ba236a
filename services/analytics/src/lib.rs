//! analytics (service 12): Usage, lifecycle funnel, KPIs, customer health scores, reports.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "analytics", number: "12",
    summary: "Usage, lifecycle funnel, KPIs, customer health scores, reports",
    status: Planned, http: 8112, grpc: 9112, database: "analytics",
    publishes: [topic::ANALYTICS],
    consumes: [topic::AUTH, topic::ORG, topic::AGENT, topic::RESEARCH, topic::DEMO, topic::NDA, topic::PRICING, topic::PROPOSAL, topic::PRD, topic::CONVERSATION, topic::VOICE, topic::SUPPORT, topic::CRM, topic::CATALOG, topic::TENANT, topic::FEEDBACK],
    prefixes: ["/api/v1/analytics"],
    build: kit::planned,
}
