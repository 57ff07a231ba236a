//! org-auth (service 0): identity, organisations, memberships, invitations, OAuth, MFA,
//! sessions, audit log, assisted signup and claim.
//!
//! Built so far: the token endpoints every other service relies on — the JWKS document that
//! verifiers fetch and `GET /api/v1/auth/me`. Signup, login, organisations and the rest follow.
use std::sync::Arc;

use kit::{
    Ctx, Json, Parts, Problem,
    auth::{JwkSet, Principal, Signer, UserType},
    axum::{extract::State, http::header, response::IntoResponse},
    service::BoxFuture,
    utoipa::{self, ToSchema},
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::Serialize;
use uuid::Uuid;

kit::service! {
    name: "org-auth", number: "0",
    summary: "Identity, organisations, memberships, invitations, OAuth, MFA, sessions, audit log, assisted signup and claim",
    status: Partial, http: 8100, grpc: 9100, database: "org_auth",
    publishes: ["auth_events", "org_events"],
    consumes: [],
    prefixes: ["/api/v1/auth", "/api/v1/organizations", "/api/v1/invitations", "/.well-known"],
    build: build,
}

#[derive(Clone)]
struct AppState {
    jwks: Arc<JwkSet>,
}

/// The caller as the platform sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: Uuid,
    /// `client` or `agent`.
    pub user_type: String,
    pub organization_id: Option<Uuid>,
    pub role: String,
    pub email: Option<String>,
    pub agent_id: Option<Uuid>,
    pub primary_role: Option<String>,
    pub all_roles: Vec<String>,
}

/// The verified principal of the bearer token.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = kit::ProblemBody)))]
async fn me(p: Principal) -> Result<Json<Me>, Problem> {
    let agent = p.agent.as_ref();
    Ok(Json(Me {
        user_id: p.user_id,
        user_type: match p.user_type {
            UserType::Client => "client",
            UserType::Agent => "agent",
        }
        .into(),
        organization_id: p.organization_id,
        role: p.role.clone(),
        email: p.email.clone(),
        agent_id: agent.map(|a| a.agent_id),
        primary_role: agent.and_then(|a| a.primary_role.clone()),
        all_roles: agent.map(|a| a.all_roles.clone()).unwrap_or_default(),
    }))
}

/// The public keys that verify access tokens (RS256, selected by `kid`).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JWK set", content_type = "application/json")))]
async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    (
        // Verifiers cache it and refetch on an unknown kid; a short max-age keeps rotation quick.
        [(header::CACHE_CONTROL, "public, max-age=300")],
        kit::axum::Json(s.jwks.as_ref().clone()),
    )
}

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let signer: Signer = ctx
            .signer
            .clone()
            .ok_or_else(|| anyhow::anyhow!("org-auth issues tokens and needs a signing key"))?;
        let state = AppState {
            jwks: Arc::new(signer.jwks()),
        };
        let router = OpenApiRouter::new()
            .routes(routes!(me))
            .routes(routes!(jwks))
            .with_state(state);
        Ok(Parts::new(router))
    })
}
