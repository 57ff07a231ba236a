//! manufacturer-catalog (service -): Manufacturer profiles, tiers and usage limits, products, search, fit analysis, onboarding flows.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "manufacturer-catalog", number: "-",
    summary: "Manufacturer profiles, tiers and usage limits, products, search, fit analysis, onboarding flows",
    status: Planned, http: 8115, grpc: 9115, database: "catalog",
    publishes: [topic::CATALOG],
    consumes: [],
    prefixes: ["/api/v1/catalog"],
    build: kit::planned,
}
