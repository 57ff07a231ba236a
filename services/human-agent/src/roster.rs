//! The roster: agent profiles as rows, and the queries on them.
use kit::{Problem, Timestamp, sqlx::PgConnection};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    problems,
    rules::{self, AgentStatus, Role},
};

/// An agent profile, as stored and as answered.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Agent {
    pub agent_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub primary_role: String,
    /// The role names, the primary one first.
    #[serde(rename = "all_roles")]
    pub roles: Vec<String>,
    /// Each role held, as the specification shows it (kept in step with the names by the
    /// database: see migration 1006).
    #[serde(rename = "roles")]
    #[schema(value_type = Vec<RoleAssignment>)]
    pub role_assignments: Value,
    pub skills: Vec<String>,
    pub certifications: Vec<String>,
    pub languages: Vec<String>,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub max_capacity: i32,
    pub max_active_handoffs: Option<i32>,
    pub availability_hours: Option<String>,
    pub status: AgentStatus,
    pub status_message: Option<String>,
    pub available_at: Option<Timestamp>,
    pub auto_assign: bool,
    pub is_active: bool,
    pub created_at: Timestamp,
    /// Grows with every change of the role set or activity (`agent_roles_changed`).
    #[serde(skip)]
    pub roles_version: i64,
}

/// One role an agent holds (spec §0.5 "Register Human Agent").
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleAssignment {
    pub role_id: Uuid,
    #[schema(value_type = Role)]
    pub role_type: String,
    pub primary: bool,
    pub assigned_at: Timestamp,
    pub skills: Option<Vec<String>>,
    pub certifications: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
}

/// The columns of [`Agent`], in `SELECT` and `RETURNING` lists.
macro_rules! agent_columns {
    () => {
        "agent_id, user_id, email, full_name, primary_role, roles, role_assignments, skills, certifications, languages, \
         permissions, max_capacity, max_active_handoffs, availability_hours, status, status_message, available_at, \
         auto_assign, is_active, created_at, roles_version"
    };
}

/// The agent with `id`; 404 `unknown-agent` when there is none.
pub async fn load(conn: &mut PgConnection, id: Uuid) -> Result<Agent, Problem> {
    sqlx::query_as(concat!(
        "SELECT ",
        agent_columns!(),
        " FROM agent_profiles WHERE agent_id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| problems::UNKNOWN_AGENT.with("agent not found"))
}

pub async fn email_taken(conn: &mut PgConnection, email: &str) -> Result<bool, Problem> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM agent_profiles WHERE lower(email) = $1)")
            .bind(email)
            .fetch_one(conn)
            .await?,
    )
}

/// Whether `agent` is active and holds `role`.
pub async fn holds_role(conn: &mut PgConnection, agent: Uuid, role: Role) -> Result<bool, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM agent_profiles WHERE agent_id = $1 AND is_active AND $2 = ANY(roles))",
    )
    .bind(agent)
    .bind(role)
    .fetch_one(conn)
    .await?)
}

/// Whether `agent`'s profile, if it has one, is active and holds `role` — the record, not a
/// token issued before a change.
pub async fn currently_holds(
    conn: &mut PgConnection,
    agent: Uuid,
    role: Role,
) -> Result<Option<bool>, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT is_active AND $2 = ANY(roles) FROM agent_profiles WHERE agent_id = $1",
    )
    .bind(agent)
    .bind(role)
    .fetch_optional(conn)
    .await?)
}

/// A new profile.
pub struct NewAgent<'a> {
    pub agent_id: Uuid,
    pub user_id: Uuid,
    pub email: &'a str,
    pub full_name: &'a str,
    pub primary_role: Role,
    pub roles: Vec<String>,
    /// Details registered with each role (`role_type`, skills …); the database adds ids and times.
    pub role_details: Value,
    pub skills: Vec<String>,
    pub certifications: Vec<String>,
    pub languages: Vec<String>,
    pub permissions: &'a Value,
    pub max_capacity: i32,
    pub max_active_handoffs: Option<i32>,
    pub availability_hours: Option<String>,
    pub created_by: Uuid,
}

pub async fn insert(conn: &mut PgConnection, a: &NewAgent<'_>) -> Result<Agent, Problem> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO agent_profiles (agent_id, user_id, email, full_name, primary_role, roles, skills, certifications, \
         languages, permissions, max_capacity, created_by, role_assignments, max_active_handoffs, availability_hours) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING ",
        agent_columns!()
    ))
    .bind(a.agent_id)
    .bind(a.user_id)
    .bind(a.email)
    .bind(a.full_name)
    .bind(a.primary_role)
    .bind(&a.roles)
    .bind(&a.skills)
    .bind(&a.certifications)
    .bind(&a.languages)
    .bind(a.permissions)
    .bind(a.max_capacity)
    .bind(a.created_by)
    .bind(&a.role_details)
    .bind(a.max_active_handoffs)
    .bind(&a.availability_hours)
    .fetch_one(conn)
    .await?)
}

/// A change to a profile: what is `None` stays.
#[derive(Debug, Default)]
pub struct Changes {
    pub roles: Option<Vec<String>>,
    /// Details given with the new roles; `None` keeps those of the roles still held.
    pub role_details: Option<Value>,
    pub skills: Option<Vec<String>>,
    pub certifications: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub max_capacity: Option<i32>,
    pub max_active_handoffs: Option<i32>,
    pub availability_hours: Option<String>,
    pub permissions: Option<Value>,
    pub auto_assign: Option<bool>,
    pub is_active: Option<bool>,
}

impl Changes {
    /// Whether the change touches what org-auth puts in the agent's tokens.
    pub fn touches_roles(&self) -> bool {
        self.roles.is_some() || self.is_active.is_some()
    }
}

/// Applies `c` (the first of new roles becomes the primary one).
pub async fn update(conn: &mut PgConnection, id: Uuid, c: &Changes) -> Result<Agent, Problem> {
    Ok(sqlx::query_as(concat!(
        "UPDATE agent_profiles SET roles = coalesce($2, roles), primary_role = coalesce($2[1], primary_role), \
         skills = coalesce($3, skills), certifications = coalesce($4, certifications), languages = coalesce($5, languages), \
         max_capacity = coalesce($6, max_capacity), permissions = coalesce($7, permissions), \
         auto_assign = coalesce($8, auto_assign), is_active = coalesce($9, is_active), \
         role_assignments = coalesce($10, role_assignments), max_active_handoffs = coalesce($11, max_active_handoffs), \
         availability_hours = coalesce($12, availability_hours), updated_at = now() \
         WHERE agent_id = $1 RETURNING ",
        agent_columns!()
    ))
    .bind(id)
    .bind(&c.roles)
    .bind(&c.skills)
    .bind(&c.certifications)
    .bind(&c.languages)
    .bind(c.max_capacity)
    .bind(&c.permissions)
    .bind(c.auto_assign)
    .bind(c.is_active)
    .bind(&c.role_details)
    .bind(c.max_active_handoffs)
    .bind(&c.availability_hours)
    .fetch_one(conn)
    .await?)
}

/// A profile after a presence change, with the change's version (see `presence`).
#[derive(sqlx::FromRow)]
pub struct Presence {
    #[sqlx(flatten)]
    pub agent: Agent,
    pub presence_version: i64,
}

/// Records a presence change, versioned under the row lock the update takes.
pub async fn set_presence(
    conn: &mut PgConnection,
    id: Uuid,
    status: AgentStatus,
    message: Option<&str>,
    available_at: Option<Timestamp>,
) -> Result<Presence, Problem> {
    Ok(sqlx::query_as(concat!(
        "UPDATE agent_profiles SET status = $2, status_message = $3, available_at = $4, updated_at = now(), \
         presence_version = nextval('agent_presence_version') WHERE agent_id = $1 RETURNING ",
        agent_columns!(),
        ", presence_version"
    ))
    .bind(id)
    .bind(status)
    .bind(message)
    .bind(available_at)
    .fetch_one(conn)
    .await?)
}

/// What the permissions lookup reads (over HTTP and gRPC).
#[derive(sqlx::FromRow)]
pub struct Access {
    pub agent_id: Uuid,
    pub user_id: Uuid,
    pub status: AgentStatus,
    pub is_active: bool,
    pub primary_role: String,
    pub roles: Vec<String>,
    pub permissions: Value,
    pub max_capacity: i32,
    /// Active assignments.
    pub current_workload: i64,
}

impl Access {
    /// The account as Kong checks it: `active` or `inactive`.
    pub fn account_status(&self) -> &'static str {
        if self.is_active { "active" } else { "inactive" }
    }

    /// What the agent may do now: nothing once deactivated; everything for a platform admin.
    pub fn effective_permissions(&self) -> Value {
        rules::effective_permissions(self.is_active, &self.roles, self.permissions.clone())
    }

    pub fn available_capacity(&self) -> i64 {
        (i64::from(self.max_capacity) - self.current_workload).max(0)
    }
}

pub async fn access(conn: &mut PgConnection, id: Uuid) -> Result<Access, Problem> {
    sqlx::query_as(
        "SELECT agent_id, user_id, status, is_active, primary_role, roles, permissions, max_capacity, \
           (SELECT count(*) FROM client_assignments a WHERE a.agent_id = p.agent_id AND a.status = 'active') AS current_workload \
         FROM agent_profiles p WHERE agent_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| problems::UNKNOWN_AGENT.with("agent not found"))
}

/// The profile an assignment is decided on, locked until the transaction ends.
#[derive(sqlx::FromRow)]
pub struct Locked {
    pub full_name: String,
    pub max_capacity: i32,
    pub status: AgentStatus,
    pub is_active: bool,
    pub roles: Vec<String>,
}

pub async fn lock(conn: &mut PgConnection, agent: Uuid) -> Result<Option<Locked>, Problem> {
    Ok(sqlx::query_as(
        "SELECT full_name, max_capacity, status, is_active, roles FROM agent_profiles WHERE agent_id = $1 FOR UPDATE",
    )
    .bind(agent)
    .fetch_optional(conn)
    .await?)
}
