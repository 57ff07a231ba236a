//! The permissions lookup Kong's agent-permissions plugin calls (internal callers only),
//! answered from Redis when cached; every change to an agent drops the cached answer.
use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use kit::{
    InternalCaller, Problem,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    roster::{self, Access},
    rules::AgentStatus,
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(permissions))
}

/// The lookup's answer (spec §0.5 "Get Agent Permissions"), with `is_active`, `presence` and
/// `roles` besides.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionsLookup {
    pub agent_id: Uuid,
    pub user_id: Uuid,
    /// The account: `active` or `inactive` (Kong refuses an inactive agent).
    pub status: &'static str,
    pub is_active: bool,
    /// Presence (as `availability`, the specification's name).
    pub availability: AgentStatus,
    pub presence: AgentStatus,
    pub primary_role: String,
    /// Every role, the primary one first (as `roles` too).
    pub all_roles: Vec<String>,
    pub roles: Vec<String>,
    /// service → actions, e.g. `{"assisted_signup": ["create", "read"]}`.
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub capacity: LookupCapacity,
}

/// Clients the agent may take, has, and may still take (as of the answer, which is cached for
/// at most a minute).
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupCapacity {
    pub max_concurrent_clients: i32,
    pub current_workload: i64,
    pub available_capacity: i64,
}

impl From<Access> for PermissionsLookup {
    fn from(a: Access) -> Self {
        PermissionsLookup {
            agent_id: a.agent_id,
            user_id: a.user_id,
            status: a.account_status(),
            is_active: a.is_active,
            availability: a.status,
            presence: a.status,
            primary_role: a.primary_role.clone(),
            // A deactivated agent keeps its profile but loses every permission at once.
            permissions: a.effective_permissions(),
            capacity: LookupCapacity {
                max_concurrent_clients: a.max_capacity,
                current_workload: a.current_workload,
                available_capacity: a.available_capacity(),
            },
            all_roles: a.roles.clone(),
            roles: a.roles,
        }
    }
}

/// The permissions Kong injects as `X-Agent-Permissions` — internal callers only (the
/// service credential; never routed publicly).
#[utoipa::path(get, path = "/api/v1/agents/{agent_id}/permissions", tag = "internal",
    params(("agent_id" = Uuid, Path)),
    responses((status = 200, body = PermissionsLookup), (status = 401, body = kit::ProblemBody), (status = 404, body = kit::ProblemBody)))]
pub async fn permissions(
    State(s): State<AppState>,
    _: InternalCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, Problem> {
    // Served from Redis when cached: this lookup sits in front of every agent request at the
    // edge. Any change to the agent drops the cached answer (see `agents::update_agent`).
    if let Some(cached) = s.presence.cached_permissions(id).await {
        return Ok(json_response(cached));
    }
    // An internal caller, no principal: the service's own scope (profiles are staff data).
    let mut uow = s.db.system().await?;
    let lookup = PermissionsLookup::from(roster::access(&mut uow, id).await?);
    let body = serde_json::to_string(&lookup).map_err(Problem::internal)?;
    s.presence.store_permissions(id, &body).await;
    Ok(json_response(body))
}

fn json_response(body: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
