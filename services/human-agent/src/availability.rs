//! Presence: an agent's availability (recorded in PostgreSQL, served from Redis) and the
//! agents available to take clients.
use axum::extract::{Path, State};
use kit::{
    Json, Problem, Query, Timestamp,
    auth::Principal,
    cache::Subject,
    contracts::events::v1,
    sqlx::PgConnection,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    activity::Entry,
    handover,
    roster::{self, Agent},
    rules::{
        self, AgentStatus, Rfc3339, Role, SkillFilter, SortBy, StatusMessage, self_or_admin, staff,
    },
    staffing::{self, AvailableAgent},
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(availability))
        .routes(routes!(available))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    pub status: AgentStatus,
    /// At most 280 printable characters (the spec's `status_message`; `message` as before).
    #[serde(default, alias = "message")]
    #[schema(value_type = Option<String>)]
    pub status_message: StatusMessage,
    /// When the agent expects to be back (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub available_at: Option<Rfc3339>,
    /// Whether the agent takes automatic assignments; unchanged when absent.
    #[serde(default)]
    pub auto_assign: Option<bool>,
}

/// The profile after a presence change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityChanged {
    #[serde(flatten)]
    pub agent: Agent,
    pub auto_assign_enabled: bool,
    pub updated_at: Timestamp,
}

/// Sets auto-assignment when asked (else keeps it); answers it and when the profile changed.
async fn set_auto_assign(
    conn: &mut PgConnection,
    id: Uuid,
    auto_assign: Option<bool>,
) -> Result<(bool, Timestamp), Problem> {
    Ok(sqlx::query_as(
        "UPDATE agent_profiles SET auto_assign = coalesce($2, auto_assign), updated_at = now() WHERE agent_id = $1 \
         RETURNING auto_assign, updated_at",
    )
    .bind(id)
    .bind(auto_assign)
    .fetch_one(conn)
    .await?)
}

/// Set an agent's presence (the agent, or a platform admin). Publishes `agent_status_updated`.
#[utoipa::path(patch, path = "/api/v1/agents/{agent_id}/availability", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)), request_body = Availability,
    responses((status = 200, body = AvailabilityChanged), (status = 403, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
pub async fn availability(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Availability>,
) -> Result<Json<AvailabilityChanged>, Problem> {
    self_or_admin(&p, id)?;
    let key = id.to_string();
    s.limiter
        .enforce(
            "availability",
            Subject::Key(&key),
            rules::AVAILABILITY_CHANGES,
        )
        .await?;
    let online = s.presence.online().await;
    let mut uow = s.db.begin_for(&p).await?;
    roster::load(&mut uow, id).await?;
    let at = req.available_at.map(|t| t.0);
    let message = req.status_message.as_deref();
    let mut changed = roster::set_presence(&mut uow, id, req.status, message, at).await?;
    let (auto_assign, updated_at) = set_auto_assign(&mut uow, id, req.auto_assign).await?;
    changed.agent.auto_assign = auto_assign;
    let mut requeued = Vec::new();
    if req.status == AgentStatus::Offline && auto_assign {
        requeued = handover::redistribute(&mut uow, id, online.as_deref()).await?;
        if !requeued.is_empty() {
            let details = json!({"count": requeued.len()});
            uow.audit(Entry::new(id, "handoffs_redistributed", details))
                .await?;
        }
    }
    let event = v1::AgentStatusUpdated {
        agent_id: id.to_string(),
        status: req.status.to_string(),
    };
    uow.emit(Uuid::nil(), id, &event).await?;
    let details = json!({"status": req.status, "auto_assign": auto_assign});
    uow.audit(Entry::new(id, "status_updated", details)).await?;
    // Routing reads presence from Redis. The record is committed first; should Redis be
    // unreachable, the reconciler carries the change over within its period.
    let (presence, db, version) = (s.presence.clone(), s.db.clone(), changed.presence_version);
    uow.after_commit(async move {
        if let Err(e) = presence.set_status(id, version, req.status).await {
            tracing::warn!(error = %e, agent = %id, "presence not written to redis");
        }
        // The cached permissions answer carries presence: dropped once the change is
        // committed, so the next lookup reads it from the record.
        if let Err(e) = presence.forget_permissions(id).await {
            tracing::warn!(error = %e, agent = %id, "cached permissions not dropped; they expire within a minute");
        }
        if !requeued.is_empty() {
            requeued.push(id);
            presence.sync_queues(&db, &requeued).await;
        }
    });
    uow.commit().await?;
    Ok(Json(AvailabilityChanged {
        agent: changed.agent,
        auto_assign_enabled: auto_assign,
        updated_at,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AvailableQuery {
    /// The role (`role` as before).
    #[serde(alias = "role")]
    #[param(inline)]
    pub role_type: Option<Role>,
    /// Comma-separated; an agent is listed when it holds at least one (all when none given),
    /// with the ones it holds in `skills_match`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub skills: SkillFilter,
    pub language: Option<String>,
    /// Free slots at least.
    pub min_capacity: Option<i32>,
    /// `utilization` (default), `capacity`, or the spec's `workload_asc`, `capacity_desc`,
    /// `response_time_asc`, `skills_match_desc` (`sort` as before).
    #[serde(default, alias = "sort")]
    #[param(inline)]
    pub sort_by: SortBy,
}

/// Who is available, with the totals over every agent listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailableAgents {
    pub role_type: Option<Role>,
    pub available_agents: Vec<AvailableAgent>,
    pub total_available: usize,
    /// Free slots over the agents listed.
    pub total_capacity: i64,
}

/// Online agents with free capacity, filtered and sorted (agents).
#[utoipa::path(get, path = "/api/v1/agents/available", tag = "agents", security(("bearer" = [])), params(AvailableQuery),
    responses((status = 200, body = AvailableAgents), (status = 422, body = kit::ProblemBody)))]
pub async fn available(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<AvailableQuery>,
) -> Result<Json<AvailableAgents>, Problem> {
    staff(&p)?;
    let online = s.presence.online().await;
    let mut uow = s.db.read_for(&p).await?;
    let wanted = staffing::Wanted {
        role: q.role_type,
        skills: q.skills.as_slice(),
        language: q.language.as_deref(),
        min_capacity: q.min_capacity,
        sort: q.sort_by,
        online: online.as_deref(),
    };
    let agents = staffing::available(&mut uow, &wanted).await?;
    uow.commit().await?;
    Ok(Json(AvailableAgents {
        role_type: q.role_type,
        total_available: agents.len(),
        total_capacity: agents.iter().map(|a| a.available_capacity).sum(),
        available_agents: agents,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::testing::{body_refusal, query_refusal};

    #[tokio::test]
    async fn bad_presence_and_filters_are_refused_naming_the_field_as_before() {
        assert_eq!(
            body_refusal::<Availability>(json!({"status": "asleep"})).await,
            "status: must be one of online, busy, away, offline"
        );
        let long = json!({"status": "away", "status_message": "x".repeat(281)});
        assert_eq!(
            body_refusal::<Availability>(long).await,
            "status_message: at most 280 printable characters"
        );
        let when = json!({"status": "away", "available_at": "tomorrow"});
        assert_eq!(
            body_refusal::<Availability>(when).await,
            "available_at: must be an RFC 3339 time"
        );
        assert_eq!(
            query_refusal::<AvailableQuery>("role_type=wizard").await,
            "role_type: unknown role"
        );
        assert_eq!(
            query_refusal::<AvailableQuery>("sort_by=name").await,
            "sort_by: must be utilization, capacity, workload_asc, capacity_desc, response_time_asc or skills_match_desc"
        );
    }
}
