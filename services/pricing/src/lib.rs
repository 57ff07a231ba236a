//! pricing (service 4): Pricing: cost model, tiers at target margins, discounts, quotes, A/B experiments.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "pricing", number: "4",
    summary: "Pricing: cost model, tiers at target margins, discounts, quotes, A/B experiments",
    status: Planned, http: 8105, grpc: 9105, database: "pricing",
    publishes: [topic::PRICING],
    consumes: [topic::NDA, topic::PRD],
    prefixes: ["/api/v1/pricing"],
    build: kit::planned,
}
