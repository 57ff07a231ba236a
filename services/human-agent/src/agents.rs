//! Agent profiles: registration (the login is made by org-auth), reading and changing them, an
//! agent's activity log (its workload is `workload`'s).
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Problem,
    auth::Principal,
    contracts::{events::v1, workflow::org_auth::v1::CreateAgentUserRequest},
    sqlx::PgConnection,
    tonic,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    activity::{self, ActivityEntry, Entry},
    problems,
    roster::{self, Agent},
    rules::{
        self, Capacity, FullName, Identifiers, LoginEmail, PermissionMap, Role, platform_admin,
        self_or_admin, staff,
    },
    state::AppState,
};

mod input;

use input::{CapacityInput, NewRoles, RoleItem, RoleList};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(get_agent, update_agent))
        .routes(routes!(activity))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    #[schema(value_type = String)]
    pub email: LoginEmail,
    #[schema(value_type = String)]
    pub full_name: FullName,
    /// Role names (`["sales_agent", "onboarding_specialist"]`, the first the primary role) or
    /// role objects (`{"role_type": "sales_agent", "primary": true, "skills": […]}`); never
    /// `platform_admin` (a platform admin grants it to a registered agent).
    #[schema(value_type = Vec<RoleItem>)]
    pub roles: NewRoles,
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
    /// Concurrent clients, 1 to 1 000; default 20 (also `capacity.max_concurrent_clients`).
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub max_capacity: Option<Capacity>,
    #[serde(default)]
    pub capacity: Option<CapacityInput>,
    /// Service → actions; the roles' defaults when absent.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub permissions: Option<PermissionMap>,
}

impl RegisterAgent {
    fn roles(&self) -> &RoleList {
        &self.roles.0
    }

    /// The profile to insert; the capacity object's figure wins over `max_capacity`.
    fn profile<'a>(
        &'a self,
        ids: (Uuid, Uuid),
        by: Uuid,
        permissions: &'a Value,
    ) -> roster::NewAgent<'a> {
        let (roles, capacity) = (self.roles(), self.capacity.clone().unwrap_or_default());
        roster::NewAgent {
            agent_id: ids.0,
            user_id: ids.1,
            email: self.email.as_str(),
            full_name: self.full_name.as_str(),
            primary_role: roles.roles().primary(),
            roles: roles.roles().names(),
            role_details: roles.details().unwrap_or_else(|| json!([])),
            skills: roles.with_skills(self.skills.clone().into_vec()),
            certifications: roles.with_certifications(self.certifications.clone().into_vec()),
            languages: rules::languages_or_english(
                roles.with_languages(self.languages.clone().into_vec()),
            ),
            permissions,
            max_capacity: capacity
                .max_concurrent_clients
                .or(self.max_capacity)
                .unwrap_or(Capacity::DEFAULT)
                .get(),
            max_active_handoffs: capacity.max_active_handoffs.map(Capacity::get),
            availability_hours: capacity.availability_hours.into_option(),
            created_by: by,
        }
    }
}

/// What org-auth keeps of the agent for its tokens: the full role set, none once deactivated.
fn roles_changed(a: &Agent) -> v1::AgentRolesChanged {
    v1::AgentRolesChanged {
        agent_id: a.agent_id.to_string(),
        user_id: a.user_id.to_string(),
        primary_role: a.primary_role.clone(),
        roles: a.roles.clone(),
        is_active: a.is_active,
        version: a.roles_version,
    }
}

/// A platform admin as the record has it now. The token's roles are those at its issue: a
/// demoted admin's token names the role until it expires, and must not change agents (nor
/// promote its holder again). A caller without a profile (a login made outside human-agent)
/// is judged by its token alone.
async fn current_platform_admin(conn: &mut PgConnection, p: &Principal) -> Result<(), Problem> {
    platform_admin(p)?;
    let me = p.agent.as_ref().map(|a| a.agent_id).unwrap_or_default();
    match roster::currently_holds(conn, me, Role::PlatformAdmin).await? {
        Some(false) => Err(Problem::forbidden("only a platform admin may do this")),
        Some(true) | None => Ok(()),
    }
}

/// A new agent's workload, as the registration answers it: nothing yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewWorkload {
    pub active_clients: i64,
    pub pending_handoffs: i64,
    pub utilization_percent: f64,
}

/// The registered agent, with its (empty) workload.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredAgent {
    #[serde(flatten)]
    pub agent: Agent,
    pub current_workload: NewWorkload,
}

/// Creates the login in org-auth (which mails a set-password link); returns its user id.
async fn create_login(s: &AppState, req: &RegisterAgent, agent_id: Uuid) -> Result<Uuid, Problem> {
    // The login gets the primary role; the full set follows as `agent_roles_changed`.
    let login = CreateAgentUserRequest {
        email: req.email.as_str().to_string(),
        full_name: req.full_name.as_str().to_string(),
        agent_id: agent_id.to_string(),
        primary_role: req.roles().roles().primary().to_string(),
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
            tonic::Code::PermissionDenied => Problem::forbidden(e.message().to_string()),
            _ => {
                tracing::warn!(error = %e, "org-auth CreateAgentUser failed");
                Problem::unavailable("the identity service is unavailable; retry shortly")
            }
        })?;
    user.get_ref().user_id.parse().map_err(Problem::internal)
}

/// Register an agent (platform admins): creates its login in org-auth, which mails a
/// set-password link. Publishes `agent_registered` and `agent_roles_changed`.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])), request_body = RegisterAgent,
    responses((status = 201, body = RegisteredAgent), (status = 403, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
pub async fn register(
    State(s): State<AppState>,
    p: Principal,
    Json(req): Json<RegisterAgent>,
) -> Result<(StatusCode, Json<RegisteredAgent>), Problem> {
    let agent_id = Uuid::now_v7();
    let mut uow = s.db.begin_for(&p).await?;
    current_platform_admin(&mut uow, &p).await?;
    if roster::email_taken(&mut uow, req.email.as_str()).await? {
        return Err(problems::AGENT_EXISTS.with("an agent with this email exists"));
    }
    // The login first (org-auth validates the address); the profile commits only if it exists.
    let user_id = create_login(&s, &req, agent_id).await?;
    let permissions = match &req.permissions {
        Some(p) => p.clone().into_value(),
        None => rules::default_permissions(req.roles().roles().as_slice()),
    };
    let agent = roster::insert(
        &mut uow,
        &req.profile((agent_id, user_id), p.user_id, &permissions),
    )
    .await?;
    let registered = v1::AgentRegistered {
        agent_id: agent_id.to_string(),
        roles: agent.roles.clone(),
    };
    uow.emit(Uuid::nil(), agent_id, &registered).await?;
    uow.emit(Uuid::nil(), agent_id, &roles_changed(&agent))
        .await?;
    let details = json!({"roles": agent.roles});
    uow.audit(Entry::new(agent_id, "agent_registered", details))
        .await?;
    uow.commit().await?;
    let current_workload = NewWorkload {
        active_clients: 0,
        pending_handoffs: 0,
        utilization_percent: 0.0,
    };
    Ok((
        StatusCode::CREATED,
        Json(RegisteredAgent {
            agent,
            current_workload,
        }),
    ))
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
    /// Role names or role objects, as at registration; `platform_admin` too (platform admins
    /// grant it). New roles without details keep the details of the roles still held.
    #[schema(value_type = Option<Vec<RoleItem>>)]
    pub roles: Option<RoleList>,
    #[schema(value_type = Option<Vec<String>>)]
    pub skills: Option<Identifiers<50>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub certifications: Option<Identifiers<50>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub languages: Option<Identifiers<20>>,
    #[schema(value_type = Option<i32>)]
    pub max_capacity: Option<Capacity>,
    pub capacity: Option<CapacityInput>,
    #[schema(value_type = Option<Object>)]
    pub permissions: Option<PermissionMap>,
    pub auto_assign: Option<bool>,
    pub is_active: Option<bool>,
}

impl UpdateAgent {
    /// The change to `current`: the lists the roles' objects bring are added to the agent's
    /// own (given here, or as they are).
    fn changes(self, current: &Agent) -> roster::Changes {
        let roles = self.roles.as_ref();
        let list = |given: Option<Vec<String>>,
                    kept: &[String],
                    add: fn(&RoleList, Vec<String>) -> Vec<String>| {
            match roles.filter(|r| r.has_lists()) {
                Some(r) => Some(add(r, given.unwrap_or_else(|| kept.to_vec()))),
                None => given,
            }
        };
        let capacity = self.capacity.unwrap_or_default();
        roster::Changes {
            roles: roles.map(|r| r.roles().names()),
            role_details: roles.and_then(RoleList::details),
            skills: list(
                self.skills.map(Identifiers::into_vec),
                &current.skills,
                RoleList::with_skills,
            ),
            certifications: list(
                self.certifications.map(Identifiers::into_vec),
                &current.certifications,
                RoleList::with_certifications,
            ),
            languages: list(
                self.languages.map(Identifiers::into_vec),
                &current.languages,
                RoleList::with_languages,
            ),
            max_capacity: capacity
                .max_concurrent_clients
                .or(self.max_capacity)
                .map(Capacity::get),
            max_active_handoffs: capacity.max_active_handoffs.map(Capacity::get),
            availability_hours: capacity.availability_hours.into_option(),
            permissions: self.permissions.map(PermissionMap::into_value),
            auto_assign: self.auto_assign,
            is_active: self.is_active,
        }
    }
}

/// Change an agent's roles, skills, capacity or permissions (platform admins). The cached
/// permissions answer is dropped before and after the commit, so the lookup answers the change at
/// once; Kong keeps its copy for its `cache_ttl` (seconds). A change of roles or activity
/// publishes `agent_roles_changed` (org-auth's tokens follow it).
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
    // Dropped first so that a Redis outage refuses the change instead of leaving a stale answer.
    s.presence.forget_permissions(id).await?;
    let mut uow = s.db.begin_for(&p).await?;
    current_platform_admin(&mut uow, &p).await?;
    let changes = req.changes(&roster::load(&mut uow, id).await?);
    let agent = roster::update(&mut uow, id, &changes).await?;
    if changes.touches_roles() {
        // The version the update gave the set travels with it: org-auth applies only newer ones.
        uow.emit(Uuid::nil(), id, &roles_changed(&agent)).await?;
    }
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
