//! A client's timeline: the lifecycle stages so far (its assignments, in order), the handoffs
//! waiting, and the stages to come.
use axum::extract::{Path, State};
use kit::{
    Json, Problem, Timestamp,
    auth::Principal,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    handover,
    rules::{self, Role},
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(timeline))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageEntry {
    pub stage: String,
    pub role_type: String,
    pub agent_id: Uuid,
    pub agent_name: String,
    pub start_date: Timestamp,
    pub end_date: Option<Timestamp>,
    pub duration_days: i64,
    pub status: String,
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
    status: String,
}

impl Stage {
    fn entry(self, now: Timestamp) -> StageEntry {
        StageEntry {
            duration_days: (self.ended_at.unwrap_or(now).0 - self.created_at.0).whole_days(),
            stage: self.lifecycle_stage,
            role_type: self.role_type,
            agent_id: self.agent_id,
            agent_name: self.agent_name,
            start_date: self.created_at,
            end_date: self.ended_at,
            status: rules::stage_status(&self.status),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FutureStage {
    pub stage: &'static str,
    pub role_type: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub client_id: Uuid,
    pub current_stage: Option<String>,
    pub lifecycle_timeline: Vec<StageEntry>,
    pub pending_handoffs: Vec<Uuid>,
    pub future_stages: Vec<FutureStage>,
}

impl Timeline {
    fn new(client_id: Uuid, entries: Vec<StageEntry>, pending_handoffs: Vec<Uuid>) -> Self {
        let current_stage = entries
            .iter()
            .rev()
            .find(|e| e.status == "in_progress")
            .map(|e| e.stage.clone());
        let future = rules::future_stages(entries.iter().map(|e| e.stage.as_str()));
        Timeline {
            client_id,
            current_stage,
            future_stages: future
                .iter()
                .map(|&(stage, role_type)| FutureStage { stage, role_type })
                .collect(),
            lifecycle_timeline: entries,
            pending_handoffs,
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
    // A client's unit of work sees only its own organisation's rows (RLS).
    let mut uow = s.db.begin_for(&p).await?;
    let stages: Vec<Stage> = sqlx::query_as(
        "SELECT a.lifecycle_stage, a.role_type, a.agent_id, coalesce(p.full_name, '') AS agent_name, a.created_at, \
         a.ended_at, a.status FROM client_assignments a LEFT JOIN agent_profiles p ON p.agent_id = a.agent_id \
         WHERE a.client_id = $1 ORDER BY a.created_at",
    )
    .bind(client)
    .fetch_all(&mut *uow)
    .await?;
    if stages.is_empty() {
        return Err(Problem::not_found("client"));
    }
    let now = Timestamp::now();
    let entries = stages.into_iter().map(|st| st.entry(now)).collect();
    let pending = handover::pending_for_client(&mut uow, client).await?;
    Ok(Json(Timeline::new(client, entries, pending)))
}
