//! A client's timeline (spec §0.5, endpoint 10): the lifecycle stages so far (its assignments,
//! in order, with what was completed in each as its handoff recorded), the current agent, the
//! handoffs waiting, and the stages to come.
use axum::extract::{Path, State};
use kit::{
    Json, Problem, Timestamp,
    auth::Principal,
    sqlx::PgConnection,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    handover,
    people::AgentRef,
    rules::{self, Role},
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(timeline))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageEntry {
    pub stage: String,
    pub agent: AgentRef,
    pub start_date: Timestamp,
    pub end_date: Option<Timestamp>,
    pub duration_days: i64,
    pub status: String,
    /// What the stage's agent recorded as done when handing the client on.
    pub completed_items: Vec<String>,
    /// Not recorded by this service: `null`.
    pub handoff_quality_score: Option<f64>,
    /// Not recorded by this service (client feedback is another's): `null`.
    pub client_satisfaction: Option<f64>,
    /// In progress: the share of the stage's expected time elapsed (at most 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<i64>,
    /// In progress: the first of the next actions handed over, due by the stage's expected
    /// completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_milestone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_milestone_deadline: Option<Timestamp>,
    /// As answered before.
    pub role_type: String,
    pub agent_id: Uuid,
    pub agent_name: String,
}

/// A client's assignment, for its timeline.
#[derive(sqlx::FromRow)]
struct Stage {
    lifecycle_stage: String,
    role_type: String,
    agent_id: Uuid,
    agent_name: String,
    created_at: Timestamp,
    ended_at: Option<Timestamp>,
    expected_completion: Timestamp,
    status: String,
    next_action: Option<String>,
    company_name: Option<String>,
    /// The items of the handoff that ended the stage (its context's `completed_items`).
    completed: Option<Value>,
}

/// The item names of a handoff's `completed_items` (`{"item": …}` objects or plain text).
fn item_names(v: Option<Value>) -> Vec<String> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| i.get("item").unwrap_or(i).as_str().map(str::to_string))
        .collect()
}

impl Stage {
    fn entry(self, now: Timestamp) -> StageEntry {
        let status = rules::stage_status(&self.status);
        let ongoing = self.ended_at.is_none() && status == "in_progress";
        let span = (self.expected_completion.0 - self.created_at.0)
            .whole_seconds()
            .max(1);
        let elapsed = (now.0 - self.created_at.0).whole_seconds().max(0);
        StageEntry {
            duration_days: (self.ended_at.unwrap_or(now).0 - self.created_at.0).whole_days(),
            stage: self.lifecycle_stage,
            agent: AgentRef {
                agent_id: self.agent_id,
                full_name: self.agent_name.clone(),
                role_type: self.role_type.clone(),
                status: None,
            },
            start_date: self.created_at,
            end_date: self.ended_at,
            status,
            completed_items: item_names(self.completed),
            handoff_quality_score: None,
            client_satisfaction: None,
            progress_percent: ongoing.then(|| (elapsed * 100 / span).min(100)),
            next_milestone: self.next_action.filter(|_| ongoing),
            next_milestone_deadline: ongoing.then_some(self.expected_completion),
            role_type: self.role_type,
            agent_id: self.agent_id,
            agent_name: self.agent_name,
        }
    }
}

/// The agent serving the current stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentAgent {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub assigned_since: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FutureStage {
    pub stage: &'static str,
    pub role_type: Role,
    /// When the current stage is expected to end.
    pub expected_start: Option<Timestamp>,
    /// The agent a waiting handoff proposes for it, if any.
    pub assigned_agent: Option<AgentRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub client_id: Uuid,
    /// The company, as its assignments named it (`context.company_name`); `null` if never.
    pub organization_name: Option<String>,
    pub current_stage: Option<String>,
    pub current_agent: Option<CurrentAgent>,
    pub lifecycle_timeline: Vec<StageEntry>,
    pub pending_handoffs: Vec<Uuid>,
    pub future_stages: Vec<FutureStage>,
}

/// A handoff waiting for a client, with its proposed agent.
#[derive(sqlx::FromRow)]
struct Waiting {
    to_agent_id: Uuid,
    to_name: String,
    to_role: Role,
}

async fn stages(conn: &mut PgConnection, client: Uuid) -> Result<Vec<Stage>, Problem> {
    Ok(sqlx::query_as(
        "SELECT a.lifecycle_stage, a.role_type, a.agent_id, coalesce(p.full_name, '') AS agent_name, a.created_at, \
           a.ended_at, a.expected_completion, a.status, a.context->'next_actions'->>0 AS next_action, \
           a.context->>'company_name' AS company_name, h.context->'completed_items' AS completed \
         FROM client_assignments a LEFT JOIN agent_profiles p ON p.agent_id = a.agent_id \
         LEFT JOIN LATERAL (SELECT context FROM handoffs WHERE client_id = a.client_id AND from_agent_id = a.agent_id \
           AND from_role = a.role_type AND status = 'accepted' ORDER BY decided_at DESC LIMIT 1) h ON true \
         WHERE a.client_id = $1 ORDER BY a.created_at",
    )
    .bind(client)
    .fetch_all(conn)
    .await?)
}

async fn waiting(conn: &mut PgConnection, client: Uuid) -> Result<Vec<Waiting>, Problem> {
    Ok(sqlx::query_as(
        "SELECT h.to_agent_id, coalesce(p.full_name, '') AS to_name, h.to_role FROM handoffs h \
         LEFT JOIN agent_profiles p ON p.agent_id = h.to_agent_id WHERE h.client_id = $1 AND h.status = 'pending' \
         ORDER BY h.initiated_at",
    )
    .bind(client)
    .fetch_all(conn)
    .await?)
}

impl Timeline {
    fn new(client_id: Uuid, stages: Vec<Stage>, waiting: &[Waiting], pending: Vec<Uuid>) -> Self {
        let now = Timestamp::now();
        let organization_name = stages.iter().rev().find_map(|s| s.company_name.clone());
        let expected_start = stages
            .iter()
            .rev()
            .find(|s| s.status == "active")
            .map(|s| s.expected_completion);
        let entries: Vec<StageEntry> = stages.into_iter().map(|st| st.entry(now)).collect();
        let current = entries.iter().rev().find(|e| e.status == "in_progress");
        let future = rules::future_stages(entries.iter().map(|e| e.stage.as_str()));
        Timeline {
            client_id,
            organization_name,
            current_stage: current.map(|e| e.stage.clone()),
            current_agent: current.map(|e| CurrentAgent {
                agent: e.agent.clone(),
                assigned_since: e.start_date,
            }),
            future_stages: future
                .iter()
                .map(|&(stage, role_type)| FutureStage {
                    stage,
                    role_type,
                    expected_start,
                    assigned_agent: waiting.iter().find(|w| w.to_role == role_type).map(|w| {
                        AgentRef {
                            agent_id: w.to_agent_id,
                            full_name: w.to_name.clone(),
                            role_type: role_type.to_string(),
                            status: Some("pending_acceptance"),
                        }
                    }),
                })
                .collect(),
            lifecycle_timeline: entries,
            pending_handoffs: pending,
        }
    }
}

/// A client's lifecycle so far and to come (agents; a client user for its own organisation).
#[utoipa::path(get, path = "/api/v1/agents/clients/{client_id}/timeline", tag = "handoffs", security(("bearer" = [])),
    params(("client_id" = Uuid, Path)), responses((status = 200, body = Timeline), (status = 404, body = kit::ProblemBody)))]
pub async fn timeline(
    State(s): State<AppState>,
    p: Principal,
    Path(client): Path<Uuid>,
) -> Result<Json<Timeline>, Problem> {
    if !p.is_agent() {
        p.require_org()?;
    }
    // A client's unit of work sees only its own organisation's rows (RLS); a read only.
    let mut uow = s.db.read_for(&p).await?;
    let stages = stages(&mut uow, client).await?;
    if stages.is_empty() {
        return Err(Problem::not_found("client"));
    }
    let waiting = waiting(&mut uow, client).await?;
    let pending = handover::pending_for_client(&mut uow, client).await?;
    uow.commit().await?;
    Ok(Json(Timeline::new(client, stages, &waiting, pending)))
}
