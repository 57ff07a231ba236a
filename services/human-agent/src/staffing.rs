//! Staffing figures: the agents available to take clients, and each agent's performance as
//! far as the record shows it.
//!
//! Performance comes from the handoffs an agent decided: how long it took to answer one
//! (`avg_response_time_hours`) and the share answered within the acceptance deadline
//! (`sla_compliance_percent`). Client satisfaction and handoff quality are not recorded by
//! this service (client feedback is another service's), so they answer `null`.
use std::collections::HashMap;

use kit::{Problem, sqlx::PgConnection};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::rules::{AgentStatus, Role, SortBy};

/// An agent's performance; `null` where nothing is recorded yet.
#[derive(Debug, Clone, Default, Serialize, ToSchema, sqlx::FromRow)]
pub struct Performance {
    pub avg_response_time_hours: Option<f64>,
    pub client_satisfaction_avg: Option<f64>,
    pub handoff_quality_score: Option<f64>,
    pub sla_compliance_percent: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct Decided {
    agent_id: Uuid,
    #[sqlx(flatten)]
    performance: Performance,
}

/// The performance of each of `agents` that decided a handoff.
pub async fn performance(
    conn: &mut PgConnection,
    agents: &[Uuid],
) -> Result<HashMap<Uuid, Performance>, Problem> {
    let rows: Vec<Decided> = sqlx::query_as(
        "SELECT decided_by AS agent_id, \
           round((avg(extract(epoch FROM decided_at - initiated_at)) / 3600)::numeric, 2)::float8 AS avg_response_time_hours, \
           NULL::float8 AS client_satisfaction_avg, NULL::float8 AS handoff_quality_score, \
           round(100 * avg((decided_at <= acceptance_deadline)::int), 1)::float8 AS sla_compliance_percent \
         FROM handoffs WHERE decided_by = ANY($1) AND decided_at IS NOT NULL GROUP BY decided_by",
    )
    .bind(agents)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.agent_id, r.performance))
        .collect())
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AvailableAgent {
    pub agent_id: Uuid,
    pub full_name: String,
    pub primary_role: String,
    pub roles: Vec<String>,
    pub skills: Vec<String>,
    /// The skills asked for that the agent holds.
    pub skills_match: Vec<String>,
    pub languages: Vec<String>,
    pub status: AgentStatus,
    /// Active clients (`current_load` as before).
    pub current_workload: i64,
    pub current_load: i64,
    pub max_capacity: i32,
    pub available_capacity: i64,
    pub utilization: f64,
    pub avg_response_time_hours: Option<f64>,
    /// Not recorded by this service: `null`.
    pub client_satisfaction: Option<f64>,
}

/// Who `GET /agents/available` lists.
pub struct Wanted<'a> {
    pub role: Option<Role>,
    /// At least one of them held (any agent when empty).
    pub skills: &'a [String],
    pub language: Option<&'a str>,
    pub min_capacity: Option<i32>,
    pub sort: SortBy,
    /// The online agents from Redis presence; `None` reads presence from the record.
    pub online: Option<&'a [Uuid]>,
}

/// Active agents with free capacity, online, holding the role, a skill and the language asked
/// for; at most 200.
pub async fn available(
    conn: &mut PgConnection,
    w: &Wanted<'_>,
) -> Result<Vec<AvailableAgent>, Problem> {
    macro_rules! available {
        ($order:literal) => {
            concat!(
                "SELECT * FROM (SELECT p.agent_id, p.full_name, p.primary_role, p.roles, p.skills, \
                   ARRAY(SELECT unnest(p.skills) INTERSECT SELECT unnest($2::text[]) ORDER BY 1) AS skills_match, \
                   p.languages, p.status, coalesce(a.n, 0) AS current_workload, coalesce(a.n, 0) AS current_load, p.max_capacity, \
                   p.max_capacity - coalesce(a.n, 0) AS available_capacity, coalesce(a.n, 0)::float8 / p.max_capacity AS utilization, \
                   r.hours AS avg_response_time_hours, NULL::float8 AS client_satisfaction \
                 FROM agent_profiles p \
                 LEFT JOIN (SELECT agent_id, count(*) AS n FROM client_assignments WHERE status = 'active' GROUP BY agent_id) a \
                   ON a.agent_id = p.agent_id \
                 LEFT JOIN (SELECT decided_by, round((avg(extract(epoch FROM decided_at - initiated_at)) / 3600)::numeric, 2)::float8 AS hours \
                            FROM handoffs WHERE decided_at IS NOT NULL GROUP BY decided_by) r ON r.decided_by = p.agent_id \
                 WHERE p.is_active AND ($1::text IS NULL OR $1 = ANY(p.roles)) \
                   AND CASE WHEN $5::uuid[] IS NULL THEN p.status = 'online' ELSE p.agent_id = ANY($5) END \
                   AND (cardinality($2::text[]) = 0 OR p.skills && $2) AND ($3::text IS NULL OR $3 = ANY(p.languages))) x \
                 WHERE available_capacity >= greatest(coalesce($4, 1), 1) ORDER BY ",
                $order,
                ", agent_id LIMIT 200"
            )
        };
    }
    let sql = match w.sort {
        SortBy::Utilization => available!("utilization ASC, available_capacity DESC"),
        SortBy::Capacity | SortBy::CapacityDesc => {
            available!("available_capacity DESC, utilization ASC")
        }
        SortBy::WorkloadAsc => available!("current_workload ASC, utilization ASC"),
        SortBy::ResponseTimeAsc => {
            available!("avg_response_time_hours ASC NULLS LAST, utilization ASC")
        }
        SortBy::SkillsMatchDesc => available!("cardinality(skills_match) DESC, utilization ASC"),
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
