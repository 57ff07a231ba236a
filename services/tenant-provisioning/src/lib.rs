//! tenant-provisioning (service -): Tenant resources: provisioning steps, Tenant custom resource, suspend/resume, retention.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "tenant-provisioning", number: "-",
    summary: "Tenant resources: provisioning steps, Tenant custom resource, suspend/resume, retention",
    status: Planned, http: 8116, grpc: 9116, database: "tenants",
    publishes: [topic::TENANT],
    consumes: [topic::ORG],
    prefixes: ["/api/v1/tenants"],
    build: kit::planned,
}
