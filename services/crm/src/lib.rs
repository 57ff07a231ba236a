//! crm (service 15): CRM of record: accounts, contacts, deals, Salesforce/HubSpot sync.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "crm", number: "15",
    summary: "CRM of record: accounts, contacts, deals, Salesforce/HubSpot sync",
    status: Planned, http: 8114, grpc: 9114, database: "crm",
    publishes: [topic::CRM],
    consumes: [topic::AUTH, topic::ORG, topic::DEMO, topic::NDA, topic::PRICING, topic::PROPOSAL],
    prefixes: ["/api/v1/crm"],
    build: kit::planned,
}
