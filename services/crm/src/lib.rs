//! crm (service 15): CRM of record: accounts, contacts, deals, Salesforce/HubSpot sync.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

kit::service! {
    name: "crm", number: "15",
    summary: "CRM of record: accounts, contacts, deals, Salesforce/HubSpot sync",
    status: Planned, http: 8114, grpc: 9114, database: "crm",
    publishes: ["crm_events"],
    consumes: ["auth_events", "org_events", "demo_events", "nda_events", "pricing_events", "proposal_events"],
    prefixes: ["/api/v1/crm"],
    build: kit::planned,
}
