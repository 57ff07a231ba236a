//! The roster: agent profiles as rows, and the queries on them.
use kit::{Problem, Timestamp, sqlx::PgConnection};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    problems,
    rules::{AgentStatus, Role, SortBy},
};

/// An agent profile, as stored and as answered.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
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
    pub status: AgentStatus,
    pub status_message: Option<String>,
    pub available_at: Option<Timestamp>,
    pub auto_assign: bool,
    pub is_active: bool,
    pub created_at: Timestamp,
}

/// The columns of [`Agent`], in `SELECT` and `RETURNING` lists.
macro_rules! agent_columns {
    () => {
        "agent_id, user_id, email, full_name, primary_role, roles, skills, certifications, languages, permissions, \
         max_capacity, status, status_message, available_at, auto_assign, is_active, created_at"
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

/// The agent's name; empty for an unknown one.
pub async fn name_of(conn: &mut PgConnection, agent: Uuid) -> Result<String, Problem> {
    Ok(
        sqlx::query_scalar("SELECT full_name FROM agent_profiles WHERE agent_id = $1")
            .bind(agent)
            .fetch_optional(conn)
            .await?
            .unwrap_or_default(),
    )
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

/// A new profile.
pub struct NewAgent<'a> {
    pub agent_id: Uuid,
    pub user_id: Uuid,
    pub email: &'a str,
    pub full_name: &'a str,
    pub primary_role: Role,
    pub roles: Vec<String>,
    pub skills: Vec<String>,
    pub certifications: Vec<String>,
    pub languages: Vec<String>,
    pub permissions: &'a Value,
    pub max_capacity: i32,
    pub created_by: Uuid,
}

pub async fn insert(conn: &mut PgConnection, a: &NewAgent<'_>) -> Result<Agent, Problem> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO agent_profiles (agent_id, user_id, email, full_name, primary_role, roles, skills, certifications, \
         languages, permissions, max_capacity, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING ",
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
    .fetch_one(conn)
    .await?)
}

/// A change to a profile: what is `None` stays.
#[derive(Debug, Default)]
pub struct Changes {
    pub roles: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    pub certifications: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub max_capacity: Option<i32>,
    pub permissions: Option<Value>,
    pub auto_assign: Option<bool>,
    pub is_active: Option<bool>,
}

/// Applies `c` (the first of new roles becomes the primary one).
pub async fn update(conn: &mut PgConnection, id: Uuid, c: &Changes) -> Result<Agent, Problem> {
    Ok(sqlx::query_as(concat!(
        "UPDATE agent_profiles SET roles = coalesce($2, roles), primary_role = coalesce($2[1], primary_role), \
         skills = coalesce($3, skills), certifications = coalesce($4, certifications), languages = coalesce($5, languages), \
         max_capacity = coalesce($6, max_capacity), permissions = coalesce($7, permissions), \
         auto_assign = coalesce($8, auto_assign), is_active = coalesce($9, is_active), updated_at = now() \
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

/// What the permissions lookup reads.
#[derive(sqlx::FromRow)]
pub struct Access {
    pub agent_id: Uuid,
    pub status: AgentStatus,
    pub is_active: bool,
    pub primary_role: String,
    pub roles: Vec<String>,
    pub permissions: Value,
}

pub async fn access(conn: &mut PgConnection, id: Uuid) -> Result<Access, Problem> {
    sqlx::query_as(
        "SELECT agent_id, status, is_active, primary_role, roles, permissions FROM agent_profiles WHERE agent_id = $1",
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

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AvailableAgent {
    pub agent_id: Uuid,
    pub full_name: String,
    pub primary_role: String,
    pub roles: Vec<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub status: AgentStatus,
    pub current_load: i64,
    pub max_capacity: i32,
    pub available_capacity: i64,
    pub utilization: f64,
}

/// Who `GET /agents/available` lists.
pub struct Wanted<'a> {
    pub role: Option<Role>,
    pub skills: &'a [String],
    pub language: Option<&'a str>,
    pub min_capacity: Option<i32>,
    pub sort: SortBy,
    /// The online agents from Redis presence; `None` reads presence from the record.
    pub online: Option<&'a [Uuid]>,
}

/// Active agents with free capacity, online, holding the role, skills and language asked for.
pub async fn available(
    conn: &mut PgConnection,
    w: &Wanted<'_>,
) -> Result<Vec<AvailableAgent>, Problem> {
    macro_rules! available {
        ($order:literal) => {
            concat!(
                "SELECT * FROM (SELECT p.agent_id, p.full_name, p.primary_role, p.roles, p.skills, p.languages, p.status, \
                   coalesce(a.n, 0) AS current_load, p.max_capacity, p.max_capacity - coalesce(a.n, 0) AS available_capacity, \
                   coalesce(a.n, 0)::float8 / p.max_capacity AS utilization \
                 FROM agent_profiles p LEFT JOIN (SELECT agent_id, count(*) AS n FROM client_assignments WHERE status = 'active' GROUP BY agent_id) a \
                   ON a.agent_id = p.agent_id \
                 WHERE p.is_active AND ($1::text IS NULL OR $1 = ANY(p.roles)) \
                   AND CASE WHEN $5::uuid[] IS NULL THEN p.status = 'online' ELSE p.agent_id = ANY($5) END \
                   AND p.skills @> $2 AND ($3::text IS NULL OR $3 = ANY(p.languages))) x \
                 WHERE available_capacity >= greatest(coalesce($4, 1), 1) ORDER BY ",
                $order,
                " LIMIT 200"
            )
        };
    }
    let sql = match w.sort {
        SortBy::Utilization => available!("utilization ASC, available_capacity DESC"),
        SortBy::Capacity => available!("available_capacity DESC, utilization ASC"),
    };
    Ok(sqlx::query_as(sql)
        .bind(w.role)
        .bind(w.skills)
        .bind(w.language)
        .bind(w.min_capacity)
        .bind(w.online)
        .fetch_all(conn)
        .await?)
}
