//! human-agent (service 0.5): Human agents: roles, skills, capacity, presence, assignment, handoffs, specialists, supervision.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

kit::service! {
    name: "human-agent", number: "0.5",
    summary: "Human agents: roles, skills, capacity, presence, assignment, handoffs, specialists, supervision",
    status: Planned, http: 8101, grpc: 9101, database: "human_agent",
    publishes: ["agent_events"],
    consumes: ["auth_events", "monitoring_events", "conversation_events"],
    prefixes: ["/api/v1/agents"],
    build: kit::planned,
}
