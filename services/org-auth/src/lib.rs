//! org-auth (service 0): Identity, organisations, memberships, invitations, OAuth, MFA, sessions, audit log, assisted signup and claim.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

kit::service! {
    name: "org-auth", number: "0",
    summary: "Identity, organisations, memberships, invitations, OAuth, MFA, sessions, audit log, assisted signup and claim",
    status: Planned, http: 8100, grpc: 9100, database: "org_auth",
    publishes: ["auth_events", "org_events"],
    consumes: [],
    prefixes: ["/api/v1/auth", "/api/v1/organizations", "/api/v1/invitations", "/.well-known"],
    build: kit::planned,
}
