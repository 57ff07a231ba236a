//! analytics (service 12): Usage, lifecycle funnel, KPIs, customer health scores, reports.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

kit::service! {
    name: "analytics", number: "12",
    summary: "Usage, lifecycle funnel, KPIs, customer health scores, reports",
    status: Planned, http: 8112, grpc: 9112, database: "analytics",
    publishes: ["analytics_events"],
    consumes: ["auth_events", "org_events", "agent_events", "research_events", "demo_events", "nda_events", "pricing_events", "proposal_events", "prd_events", "conversation_events", "voice_events", "support_events", "crm_events", "catalog_events", "tenant_events", "feedback_events"],
    prefixes: ["/api/v1/analytics"],
    build: kit::planned,
}
