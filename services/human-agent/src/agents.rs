//! Agent profiles: registration (the login is made by org-auth), reading and changing them, an
//! agent's workload and its activity log.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Problem,
    auth::Principal,
    contracts::{events::v1, workflow::org_auth::v1::CreateAgentUserRequest},
    tonic,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    activity::{self, ActivityEntry, Entry},
    handover, problems,
    roster::{self, Agent},
    routing::{self, WorkloadAssignment},
    rules::{
        self, AgentStatus, Capacity, FullName, Identifiers, LoginEmail, PermissionMap, Role, Roles,
        platform_admin, self_or_admin, staff,
    },
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(get_agent, update_agent))
        .routes(routes!(workload))
        .routes(routes!(activity))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    #[schema(value_type = String)]
    pub email: LoginEmail,
    #[schema(value_type = String)]
    pub full_name: FullName,
    /// e.g. `["sales_agent", "onboarding_specialist"]`; the first is the primary role.
    #[schema(value_type = Vec<Role>)]
    pub roles: Roles,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub skills: Identifiers<50>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub certifications: Identifiers<50>,
    /// ISO 639-1 codes; default `["en"]`.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub languages: Identifiers<20>,
    /// Concurrent clients, 1 to 1 000; default 20.
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub max_capacity: Option<Capacity>,
    /// Service → actions; the roles' defaults when absent.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub permissions: Option<PermissionMap>,
}

/// Creates the login in org-auth (which mails a set-password link); returns its user id.
async fn create_login(s: &AppState, req: &RegisterAgent, agent_id: Uuid) -> Result<Uuid, Problem> {
    let login = CreateAgentUserRequest {
        email: req.email.as_str().to_string(),
        full_name: req.full_name.as_str().to_string(),
        agent_id: agent_id.to_string(),
        primary_role: req.roles.primary().to_string(),
    };
    let user = s
        .org_auth
        .clone()
        .create_agent_user(login)
        .await
        .map_err(|e| match e.code() {
            tonic::Code::AlreadyExists => {
                problems::AGENT_EXISTS.with("an account already exists for this email")
            }
            tonic::Code::InvalidArgument => Problem::invalid("email", e.message().to_string()),
            _ => {
                tracing::warn!(error = %e, "org-auth CreateAgentUser failed");
                Problem::unavailable("the identity service is unavailable; retry shortly")
            }
        })?;
    user.get_ref().user_id.parse().map_err(Problem::internal)
}

/// Register an agent (platform admins): creates its login in org-auth, which mails a
/// set-password link. Publishes `agent_registered`.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])), request_body = RegisterAgent,
    responses((status = 201, body = Agent), (status = 403, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
pub async fn register(
    State(s): State<AppState>,
    p: Principal,
    Json(req): Json<RegisterAgent>,
) -> Result<(StatusCode, Json<Agent>), Problem> {
    platform_admin(&p)?;
    let agent_id = Uuid::now_v7();
    let mut uow = s.db.begin_for(&p).await?;
    if roster::email_taken(&mut uow, req.email.as_str()).await? {
        return Err(problems::AGENT_EXISTS.with("an agent with this email exists"));
    }
    // The login first (org-auth validates the address); the profile commits only if it exists.
    let user_id = create_login(&s, &req, agent_id).await?;
    let permissions = match req.permissions {
        Some(p) => p.into_value(),
        None => rules::default_permissions(req.roles.as_slice()),
    };
    let new = roster::NewAgent {
        agent_id,
        user_id,
        email: req.email.as_str(),
        full_name: req.full_name.as_str(),
        primary_role: req.roles.primary(),
        roles: req.roles.names(),
        skills: req.skills.into_vec(),
        certifications: req.certifications.into_vec(),
        languages: rules::languages_or_english(req.languages.into_vec()),
        permissions: &permissions,
        max_capacity: req.max_capacity.unwrap_or(Capacity::DEFAULT).get(),
        created_by: p.user_id,
    };
    let agent = roster::insert(&mut uow, &new).await?;
    let registered = v1::AgentRegistered {
        agent_id: agent_id.to_string(),
        roles: new.roles.clone(),
    };
    uow.emit(Uuid::nil(), agent_id, &registered).await?;
    let details = json!({"roles": new.roles});
    uow.audit(Entry::new(agent_id, "agent_registered", details))
        .await?;
    uow.commit().await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// An agent's profile (agents).
#[utoipa::path(get, path = "/api/v1/agents/{agent_id}", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)), responses((status = 200, body = Agent), (status = 404, body = kit::ProblemBody)))]
pub async fn get_agent(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Agent>, Problem> {
    staff(&p)?;
    let mut uow = s.db.begin_for(&p).await?;
    Ok(Json(roster::load(&mut uow, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[schema(value_type = Option<Vec<Role>>)]
    pub roles: Option<Roles>,
    #[schema(value_type = Option<Vec<String>>)]
    pub skills: Option<Identifiers<50>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub certifications: Option<Identifiers<50>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub languages: Option<Identifiers<20>>,
    #[schema(value_type = Option<i32>)]
    pub max_capacity: Option<Capacity>,
    #[schema(value_type = Option<Object>)]
    pub permissions: Option<PermissionMap>,
    pub auto_assign: Option<bool>,
    pub is_active: Option<bool>,
}

impl From<UpdateAgent> for roster::Changes {
    fn from(u: UpdateAgent) -> Self {
        roster::Changes {
            roles: u.roles.map(|r| r.names()),
            skills: u.skills.map(Identifiers::into_vec),
            certifications: u.certifications.map(Identifiers::into_vec),
            languages: u.languages.map(Identifiers::into_vec),
            max_capacity: u.max_capacity.map(Capacity::get),
            permissions: u.permissions.map(PermissionMap::into_value),
            auto_assign: u.auto_assign,
            is_active: u.is_active,
        }
    }
}

/// Change an agent's roles, skills, capacity or permissions (platform admins). The cached
/// permissions answer is dropped before and after the commit, so the lookup answers the change at
/// once; Kong keeps its copy for its `cache_ttl` (seconds).
#[utoipa::path(patch, path = "/api/v1/agents/{agent_id}", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)), request_body = UpdateAgent,
    responses((status = 200, body = Agent), (status = 403, body = kit::ProblemBody), (status = 404, body = kit::ProblemBody)))]
pub async fn update_agent(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateAgent>,
) -> Result<Json<Agent>, Problem> {
    platform_admin(&p)?;
    let changes = roster::Changes::from(req);
    // Dropped first so that a Redis outage refuses the change instead of leaving a stale answer.
    s.presence.forget_permissions(id).await?;
    let mut uow = s.db.begin_for(&p).await?;
    roster::load(&mut uow, id).await?;
    let agent = roster::update(&mut uow, id, &changes).await?;
    let details = json!({"roles": changes.roles, "permissions": changes.permissions, "max_capacity": changes.max_capacity});
    uow.audit(Entry::new(id, "agent_updated", details)).await?;
    // A lookup between the first drop and the commit may have cached the old answer again.
    let presence = s.presence.clone();
    uow.after_commit(async move {
        if let Err(e) = presence.forget_permissions(id).await {
            tracing::warn!(error = %e, agent = %id, "cached permissions not dropped; they expire within a minute");
        }
    });
    uow.commit().await?;
    Ok(Json(agent))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Workload {
    pub agent_id: Uuid,
    pub status: AgentStatus,
    pub max_capacity: i32,
    pub active_assignments: usize,
    pub available_capacity: i64,
    pub utilization: f64,
    pub assignments: Vec<WorkloadAssignment>,
    /// Handoffs waiting for this agent's decision, oldest first.
    pub queued_handoffs: Vec<Uuid>,
}

/// An agent's active clients and capacity (the agent, or a platform admin).
#[utoipa::path(get, path = "/api/v1/agents/{agent_id}/workload", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)), responses((status = 200, body = Workload), (status = 404, body = kit::ProblemBody)))]
pub async fn workload(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Workload>, Problem> {
    self_or_admin(&p, id)?;
    let mut uow = s.db.begin_for(&p).await?;
    let agent = roster::load(&mut uow, id).await?;
    let assignments = routing::active(&mut uow, id).await?;
    // Served from Redis; the record answers when Redis cannot.
    let queued_handoffs = match s.presence.queue(id).await {
        Some(q) => q,
        None => handover::queued_for(&mut uow, id).await?,
    };
    let n = assignments.len();
    Ok(Json(Workload {
        agent_id: id,
        status: agent.status,
        max_capacity: agent.max_capacity,
        active_assignments: n,
        available_capacity: i64::from(agent.max_capacity) - n as i64,
        utilization: rules::utilization(n as i64, agent.max_capacity),
        assignments,
        queued_handoffs,
    }))
}

/// An agent's activity log, newest first (the agent, or a platform admin).
#[utoipa::path(get, path = "/api/v1/agents/{agent_id}/activity", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)), responses((status = 200, body = Vec<ActivityEntry>)))]
pub async fn activity(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<ActivityEntry>>, Problem> {
    self_or_admin(&p, id)?;
    let mut uow = s.db.begin_for(&p).await?;
    roster::load(&mut uow, id).await?;
    Ok(Json(activity::of(&mut uow, id).await?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::testing::body_refusal;

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut b = json!({"email": "x@workflow.test", "full_name": "X", "roles": ["sales_agent"]});
        b[field] = value;
        b
    }

    #[tokio::test]
    async fn a_bad_registration_is_refused_naming_the_field_as_before() {
        let refused = |f: &str, v: serde_json::Value| body_refusal::<RegisterAgent>(with(f, v));
        assert_eq!(
            refused("roles", json!(["wizard"])).await,
            "roles: unknown role wizard; known: platform_admin, sales_agent, onboarding_specialist, \
             support_specialist, success_manager, sales_specialist, ai_supervisor, platform_engineer"
        );
        assert_eq!(
            refused("roles", json!([])).await,
            "roles: at least one role"
        );
        assert_eq!(
            refused("max_capacity", json!(0)).await,
            "max_capacity: must be 1 to 1000"
        );
        assert_eq!(
            refused("full_name", json!(" ")).await,
            "full_name: 1 to 200 printable characters"
        );
        assert_eq!(
            refused("skills", json!(["no spaces"])).await,
            "skills: entries are short identifiers like enterprise_sales"
        );
        assert_eq!(
            refused("languages", json!(vec!["en"; 21])).await,
            "languages: at most 20 entries"
        );
        assert_eq!(
            refused("permissions", json!({"a": "b"})).await,
            "permissions.a: must be a list of action names"
        );
        assert_eq!(
            refused("permissions", json!("all")).await,
            "permissions: must be an object of service → actions"
        );
        let change = json!({"roles": ["platform_admin", "wizard"]});
        assert!(
            body_refusal::<UpdateAgent>(change)
                .await
                .starts_with("roles: unknown role wizard")
        );
    }
}
