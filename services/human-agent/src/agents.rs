//! Agent profiles, presence, the permissions lookup and workload.
use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use kit::{
    InternalCaller, Json, Problem,
    auth::Principal,
    contracts::{events::v1, workflow::org_auth::v1::CreateAgentUserRequest},
    store::{self, Scope, Tx, outbox},
    tonic,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{AppState, SOURCE, activity, now_rfc3339, rfc3339};

/// The operational roles (spec "Role Definitions").
pub const ROLES: &[&str] = &[
    "platform_admin",
    "sales_agent",
    "onboarding_specialist",
    "support_specialist",
    "success_manager",
    "sales_specialist",
    "ai_supervisor",
    "platform_engineer",
];
const STATUSES: &[&str] = &["online", "busy", "away", "offline"];

/// What a role may do unless the profile says otherwise (service → actions).
pub fn default_permissions(roles: &[String]) -> Value {
    let mut p: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for role in roles {
        let grants: &[(&str, &[&str])] = match role.as_str() {
            "sales_agent" => &[
                ("assisted_signup", &["create", "read", "update"]),
                ("research_engine", &["read", "trigger"]),
                ("demo_generator", &["read", "create"]),
                ("handoffs", &["initiate"]),
            ],
            "onboarding_specialist" => &[
                ("prd_builder", &["read", "write"]),
                ("handoffs", &["initiate", "accept"]),
            ],
            "support_specialist" => &[
                ("support", &["read", "write"]),
                ("handoffs", &["initiate", "accept"]),
            ],
            "success_manager" => &[
                ("analytics", &["read"]),
                ("handoffs", &["initiate", "accept"]),
            ],
            "sales_specialist" => &[
                ("pricing", &["read", "approve"]),
                ("proposals", &["read", "write"]),
            ],
            "ai_supervisor" => &[("supervision", &["read", "intervene"])],
            _ => &[],
        };
        for (service, actions) in grants {
            let e = p.entry(service).or_default();
            for a in *actions {
                if !e.contains(a) {
                    e.push(a);
                }
            }
        }
    }
    json!(p)
}

fn staff(p: &Principal) -> Result<(), Problem> {
    p.require_agent().map(|_| ())
}

fn admin(p: &Principal) -> Result<(), Problem> {
    if p.is_platform_admin() {
        Ok(())
    } else {
        Err(Problem::forbidden("only a platform admin may do this"))
    }
}

/// The agent itself or a platform admin.
fn self_or_admin(p: &Principal, agent: Uuid) -> Result<(), Problem> {
    if p.is_platform_admin() || p.agent.as_ref().is_some_and(|a| a.agent_id == agent) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "only the agent or a platform admin may do this",
        ))
    }
}

fn list(field: &str, v: &[String], max: usize) -> Result<Vec<String>, Problem> {
    if v.len() > max {
        return Err(Problem::invalid(field, format!("at most {max} entries")));
    }
    let mut out: Vec<String> = Vec::new();
    for s in v {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty()
            || s.len() > 64
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(Problem::invalid(
                field,
                "entries are short identifiers like enterprise_sales",
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

fn check_roles(v: &[String]) -> Result<Vec<String>, Problem> {
    let roles = list("roles", v, 8)?;
    if roles.is_empty() {
        return Err(Problem::invalid("roles", "at least one role"));
    }
    if let Some(r) = roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        return Err(Problem::invalid(
            "roles",
            format!("unknown role {r}; known: {}", ROLES.join(", ")),
        ));
    }
    Ok(roles)
}

fn check_permissions(v: &Value) -> Result<Value, Problem> {
    let obj = v
        .as_object()
        .ok_or_else(|| Problem::invalid("permissions", "must be an object of service → actions"))?;
    for (k, acts) in obj {
        let ok_key =
            !k.is_empty() && k.len() <= 64 && k.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        let ok_acts = acts.as_array().is_some_and(|a| {
            a.iter().all(|x| {
                x.as_str().is_some_and(|s| {
                    !s.is_empty()
                        && s.len() <= 32
                        && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
            })
        });
        if !ok_key || !ok_acts {
            return Err(Problem::invalid(
                format!("permissions.{k}"),
                "must be a list of action names",
            ));
        }
    }
    Ok(v.clone())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    pub email: String,
    pub full_name: String,
    /// e.g. `["sales_agent", "onboarding_specialist"]`; the first is the primary role.
    pub roles: Vec<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub certifications: Vec<String>,
    /// ISO 639-1 codes; default `["en"]`.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Concurrent clients; default 20.
    #[serde(default)]
    pub max_capacity: Option<i32>,
    /// Service → actions; the roles' defaults when absent.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub permissions: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Agent {
    pub agent_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub primary_role: String,
    pub roles: Vec<String>,
    pub skills: Vec<String>,
    pub certifications: Vec<String>,
    pub languages: Vec<String>,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub max_capacity: i32,
    pub status: String,
    pub status_message: Option<String>,
    pub available_at: Option<String>,
    pub auto_assign: bool,
    pub is_active: bool,
    pub created_at: String,
}

const AGENT_COLUMNS: &str = "agent_id, user_id, email, full_name, primary_role, roles, skills, certifications, \
    languages, permissions, max_capacity, status, status_message, available_at, auto_assign, is_active, created_at";

fn agent(r: &sqlx::postgres::PgRow) -> Agent {
    Agent {
        agent_id: r.get(0),
        user_id: r.get(1),
        email: r.get(2),
        full_name: r.get(3),
        primary_role: r.get(4),
        roles: r.get(5),
        skills: r.get(6),
        certifications: r.get(7),
        languages: r.get(8),
        permissions: r.get(9),
        max_capacity: r.get(10),
        status: r.get(11),
        status_message: r.get(12),
        available_at: r.get::<Option<OffsetDateTime>, _>(13).map(rfc3339),
        auto_assign: r.get(14),
        is_active: r.get(15),
        created_at: rfc3339(r.get(16)),
    }
}

pub async fn load(tx: &mut Tx, id: Uuid) -> Result<Agent, Problem> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {AGENT_COLUMNS} FROM agent_profiles WHERE agent_id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| Problem::not_found("agent"))?;
    Ok(agent(&r))
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
    admin(&p)?;
    let roles = check_roles(&req.roles)?;
    let skills = list("skills", &req.skills, 50)?;
    let certifications = list("certifications", &req.certifications, 50)?;
    let mut languages = list("languages", &req.languages, 20)?;
    if languages.is_empty() {
        languages.push("en".into());
    }
    let capacity = req.max_capacity.unwrap_or(20);
    if !(1..=1000).contains(&capacity) {
        return Err(Problem::invalid("max_capacity", "must be 1 to 1000"));
    }
    let permissions = match &req.permissions {
        Some(v) => check_permissions(v)?,
        None => default_permissions(&roles),
    };
    let name = req.full_name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Problem::invalid(
            "full_name",
            "1 to 200 printable characters",
        ));
    }
    let email = req.email.trim().to_ascii_lowercase();
    let agent_id = Uuid::now_v7();
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    let taken: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM agent_profiles WHERE lower(email) = $1)")
            .bind(&email)
            .fetch_one(&mut *tx)
            .await?;
    if taken {
        return Err(Problem::conflict("an agent with this email exists"));
    }
    // The login first (org-auth validates the address); the profile commits only if it exists.
    let mut req_grpc = tonic::Request::new(CreateAgentUserRequest {
        email: email.clone(),
        full_name: name.to_string(),
        agent_id: agent_id.to_string(),
        primary_role: roles[0].clone(),
    });
    if let Some(t) = &s.internal_token
        && let Ok(v) = format!("Bearer {t}").parse()
    {
        req_grpc.metadata_mut().insert("authorization", v);
    }
    let user = s
        .org_auth
        .clone()
        .create_agent_user(req_grpc)
        .await
        .map_err(|e| match e.code() {
            tonic::Code::AlreadyExists => {
                Problem::conflict("an account already exists for this email")
            }
            tonic::Code::InvalidArgument => Problem::invalid("email", e.message().to_string()),
            _ => {
                tracing::warn!(error = %e, "org-auth CreateAgentUser failed");
                Problem::unavailable("the identity service is unavailable; retry shortly")
            }
        })?;
    let user_id: Uuid = user.get_ref().user_id.parse().map_err(Problem::internal)?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO agent_profiles (agent_id, user_id, email, full_name, primary_role, roles, skills, certifications, \
         languages, permissions, max_capacity, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING {AGENT_COLUMNS}"
    )))
    .bind(agent_id)
    .bind(user_id)
    .bind(&email)
    .bind(name)
    .bind(&roles[0])
    .bind(&roles)
    .bind(&skills)
    .bind(&certifications)
    .bind(&languages)
    .bind(&permissions)
    .bind(capacity)
    .bind(p.user_id)
    .fetch_one(&mut *tx)
    .await?;
    outbox::publish(
        &mut tx,
        SOURCE,
        Uuid::nil(),
        agent_id,
        &v1::AgentRegistered {
            agent_id: agent_id.to_string(),
            roles: roles.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    activity::log(
        &mut tx,
        agent_id,
        Some(p.user_id),
        "agent_registered",
        None,
        json!({"roles": roles}),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok((StatusCode::CREATED, Json(agent(&r))))
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
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    Ok(Json(load(&mut tx, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    pub roles: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    pub certifications: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub max_capacity: Option<i32>,
    #[schema(value_type = Object)]
    pub permissions: Option<Value>,
    pub auto_assign: Option<bool>,
    pub is_active: Option<bool>,
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
    admin(&p)?;
    let roles = req.roles.as_deref().map(check_roles).transpose()?;
    let skills = req
        .skills
        .as_deref()
        .map(|v| list("skills", v, 50))
        .transpose()?;
    let certs = req
        .certifications
        .as_deref()
        .map(|v| list("certifications", v, 50))
        .transpose()?;
    let langs = req
        .languages
        .as_deref()
        .map(|v| list("languages", v, 20))
        .transpose()?;
    if let Some(c) = req.max_capacity
        && !(1..=1000).contains(&c)
    {
        return Err(Problem::invalid("max_capacity", "must be 1 to 1000"));
    }
    let permissions = req
        .permissions
        .as_ref()
        .map(check_permissions)
        .transpose()?;
    // Dropped first so that a Redis outage refuses the change instead of leaving a stale answer.
    s.presence.forget_permissions(id).await?;
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    load(&mut tx, id).await?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE agent_profiles SET roles = coalesce($2, roles), primary_role = coalesce($2[1], primary_role), \
         skills = coalesce($3, skills), certifications = coalesce($4, certifications), languages = coalesce($5, languages), \
         max_capacity = coalesce($6, max_capacity), permissions = coalesce($7, permissions), \
         auto_assign = coalesce($8, auto_assign), is_active = coalesce($9, is_active), updated_at = now() \
         WHERE agent_id = $1 RETURNING {AGENT_COLUMNS}"
    )))
    .bind(id)
    .bind(&roles)
    .bind(&skills)
    .bind(&certs)
    .bind(&langs)
    .bind(req.max_capacity)
    .bind(&permissions)
    .bind(req.auto_assign)
    .bind(req.is_active)
    .fetch_one(&mut *tx)
    .await?;
    activity::log(
        &mut tx,
        id,
        Some(p.user_id),
        "agent_updated",
        None,
        json!({"roles": roles, "permissions": permissions, "max_capacity": req.max_capacity}),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    // A lookup between the first drop and the commit may have cached the old answer again.
    if let Err(e) = s.presence.forget_permissions(id).await {
        tracing::warn!(error = %e, agent = %id, "cached permissions not dropped; they expire within a minute");
    }
    Ok(Json(agent(&r)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionsLookup {
    pub agent_id: Uuid,
    /// The account: `active` or `inactive` (Kong refuses an inactive agent).
    pub status: &'static str,
    pub is_active: bool,
    /// Presence: `online`, `busy`, `away` or `offline`.
    pub presence: String,
    pub primary_role: String,
    pub roles: Vec<String>,
    /// service → actions, e.g. `{"assisted_signup": ["create", "read"]}`.
    #[schema(value_type = Object)]
    pub permissions: Value,
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
    // edge. Any change to the agent drops the cached answer (see `update_agent`).
    if let Some(cached) = s.presence.cached_permissions(id).await {
        return Ok(json_response(cached));
    }
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let r = sqlx::query("SELECT agent_id, status, is_active, primary_role, roles, permissions FROM agent_profiles WHERE agent_id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Problem::not_found("agent"))?;
    let is_active: bool = r.get(2);
    let roles: Vec<String> = r.get(4);
    // A deactivated agent keeps its profile but loses every permission at once.
    let permissions: Value = if is_active { r.get(5) } else { json!({}) };
    let permissions = if is_active && roles.iter().any(|r| r == "platform_admin") {
        let mut p = permissions;
        p["platform_admin"] = json!(["all"]);
        p
    } else {
        permissions
    };
    let body = serde_json::to_string(&PermissionsLookup {
        agent_id: r.get(0),
        status: if is_active { "active" } else { "inactive" },
        is_active,
        presence: r.get(1),
        primary_role: r.get(3),
        roles,
        permissions,
    })
    .map_err(Problem::internal)?;
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// `online`, `busy`, `away` or `offline`.
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
    /// When the agent expects to be back (RFC 3339).
    #[serde(default)]
    pub available_at: Option<String>,
}

/// Set an agent's presence (the agent, or a platform admin). Publishes `agent_status_updated`.
#[utoipa::path(patch, path = "/api/v1/agents/{agent_id}/availability", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)), request_body = Availability,
    responses((status = 200, body = Agent), (status = 403, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
pub async fn availability(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Availability>,
) -> Result<Json<Agent>, Problem> {
    self_or_admin(&p, id)?;
    s.limiter
        .enforce(
            "availability",
            kit::cache::Subject::Key(&id.to_string()),
            kit::cache::Limit::per_hour(100),
        )
        .await?;
    if !STATUSES.contains(&req.status.as_str()) {
        return Err(Problem::invalid(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let message = req
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    if message.is_some_and(|m| m.chars().count() > 280 || m.chars().any(char::is_control)) {
        return Err(Problem::invalid(
            "message",
            "at most 280 printable characters",
        ));
    }
    let at = req
        .available_at
        .as_deref()
        .map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339))
        .transpose()
        .map_err(|_| Problem::invalid("available_at", "must be an RFC 3339 time"))?;
    let online = s.presence.online().await;
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    load(&mut tx, id).await?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE agent_profiles SET status = $2, status_message = $3, available_at = $4, updated_at = now(), \
         presence_version = nextval('agent_presence_version') \
         WHERE agent_id = $1 RETURNING {AGENT_COLUMNS}, presence_version"
    )))
    .bind(id)
    .bind(&req.status)
    .bind(message)
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    let auto_assign: bool = r.get(14);
    let version: i64 = r.get(17);
    let mut requeued = Vec::new();
    if req.status == "offline" && auto_assign {
        requeued = crate::handoffs::redistribute(&mut tx, id, online.as_deref()).await?;
        let moved = requeued.len();
        if moved > 0 {
            activity::log(
                &mut tx,
                id,
                Some(p.user_id),
                "handoffs_redistributed",
                None,
                json!({"count": moved}),
            )
            .await?;
        }
    }
    outbox::publish(
        &mut tx,
        SOURCE,
        Uuid::nil(),
        id,
        &v1::AgentStatusUpdated {
            agent_id: id.to_string(),
            status: req.status.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    activity::log(
        &mut tx,
        id,
        Some(p.user_id),
        "status_updated",
        None,
        json!({"status": req.status}),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    // Routing reads presence from Redis. The record is committed; should Redis be unreachable
    // the reconciler carries the change over within its period.
    if let Err(e) = s.presence.set_status(id, version, &req.status).await {
        tracing::warn!(error = %e, agent = %id, "presence not written to redis");
    }
    if !requeued.is_empty() {
        requeued.push(id);
        s.presence.sync_queues(&s.db, &requeued).await;
    }
    Ok(Json(agent(&r)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AvailableQuery {
    pub role: Option<String>,
    /// Comma-separated; all must match.
    pub skills: Option<String>,
    pub language: Option<String>,
    /// Free slots at least.
    pub min_capacity: Option<i32>,
    /// `utilization` (default) or `capacity`.
    pub sort: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailableAgent {
    pub agent_id: Uuid,
    pub full_name: String,
    pub primary_role: String,
    pub roles: Vec<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub status: String,
    pub current_load: i64,
    pub max_capacity: i32,
    pub available_capacity: i64,
    pub utilization: f64,
}

/// Online agents with free capacity, filtered and sorted (agents).
#[utoipa::path(get, path = "/api/v1/agents/available", tag = "agents", security(("bearer" = [])), params(AvailableQuery),
    responses((status = 200, body = Vec<AvailableAgent>)))]
pub async fn available(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<AvailableQuery>,
) -> Result<Json<Vec<AvailableAgent>>, Problem> {
    staff(&p)?;
    if let Some(r) = &q.role
        && !ROLES.contains(&r.as_str())
    {
        return Err(Problem::invalid("role", "unknown role"));
    }
    let skills: Vec<String> = q
        .skills
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let order = match q.sort.as_deref().unwrap_or("utilization") {
        "utilization" => "utilization ASC, available_capacity DESC",
        "capacity" => "available_capacity DESC, utilization ASC",
        _ => return Err(Problem::invalid("sort", "must be utilization or capacity")),
    };
    let online = s.presence.online().await;
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM (SELECT p.agent_id, p.full_name, p.primary_role, p.roles, p.skills, p.languages, p.status, \
           coalesce(a.n, 0) AS load, p.max_capacity, p.max_capacity - coalesce(a.n, 0) AS available_capacity, \
           coalesce(a.n, 0)::float8 / p.max_capacity AS utilization \
         FROM agent_profiles p LEFT JOIN (SELECT agent_id, count(*) AS n FROM client_assignments WHERE status = 'active' GROUP BY agent_id) a \
           ON a.agent_id = p.agent_id \
         WHERE p.is_active AND ($1::text IS NULL OR $1 = ANY(p.roles)) \
           AND CASE WHEN $5::uuid[] IS NULL THEN p.status = 'online' ELSE p.agent_id = ANY($5) END \
           AND p.skills @> $2 AND ($3::text IS NULL OR $3 = ANY(p.languages))) x \
         WHERE available_capacity >= greatest(coalesce($4, 1), 1) ORDER BY {order} LIMIT 200"
    )))
    .bind(&q.role)
    .bind(&skills)
    .bind(&q.language)
    .bind(q.min_capacity)
    .bind(&online)
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(
        rows.iter()
            .map(|r| AvailableAgent {
                agent_id: r.get(0),
                full_name: r.get(1),
                primary_role: r.get(2),
                roles: r.get(3),
                skills: r.get(4),
                languages: r.get(5),
                status: r.get(6),
                current_load: r.get(7),
                max_capacity: r.get(8),
                available_capacity: r.get(9),
                utilization: r.get(10),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkloadAssignment {
    pub assignment_id: Uuid,
    pub client_id: Uuid,
    pub organization_id: Uuid,
    pub role_type: String,
    pub lifecycle_stage: String,
    pub first_response_due_at: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Workload {
    pub agent_id: Uuid,
    pub status: String,
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
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    let a = load(&mut tx, id).await?;
    let rows = sqlx::query(
        "SELECT id, client_id, organization_id, role_type, lifecycle_stage, first_response_due_at, created_at \
         FROM client_assignments WHERE agent_id = $1 AND status = 'active' ORDER BY created_at",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let assignments: Vec<WorkloadAssignment> = rows
        .iter()
        .map(|r| WorkloadAssignment {
            assignment_id: r.get(0),
            client_id: r.get(1),
            organization_id: r.get(2),
            role_type: r.get(3),
            lifecycle_stage: r.get(4),
            first_response_due_at: rfc3339(r.get(5)),
            created_at: rfc3339(r.get(6)),
        })
        .collect();
    let queued_handoffs = match s.presence.queue(id).await {
        Some(q) => q,
        None => {
            sqlx::query_scalar(
                "SELECT id FROM handoffs WHERE to_agent_id = $1 AND status = 'pending' ORDER BY initiated_at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
        }
    };
    let n = assignments.len();
    Ok(Json(Workload {
        agent_id: id,
        status: a.status,
        max_capacity: a.max_capacity,
        active_assignments: n,
        available_capacity: i64::from(a.max_capacity) - n as i64,
        utilization: n as f64 / f64::from(a.max_capacity),
        assignments,
        queued_handoffs,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityEntry {
    pub action: String,
    pub actor_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: String,
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
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    load(&mut tx, id).await?;
    let rows = sqlx::query("SELECT action, actor_id, organization_id, details, created_at FROM agent_activity_logs WHERE agent_id = $1 ORDER BY created_at DESC, id DESC LIMIT 500")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    Ok(Json(
        rows.iter()
            .map(|r| ActivityEntry {
                action: r.get(0),
                actor_id: r.get(1),
                organization_id: r.get(2),
                details: r.get(3),
                created_at: rfc3339(r.get(4)),
            })
            .collect(),
    ))
}
