//! Presence: an agent's availability (recorded in PostgreSQL, served from Redis) and the
//! agents available to take clients.
use axum::extract::{Path, State};
use kit::{
    Json, Problem, Query,
    auth::Principal,
    cache::Subject,
    contracts::events::v1,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    activity::Entry,
    handover,
    roster::{self, Agent, AvailableAgent},
    rules::{
        self, AgentStatus, Rfc3339, Role, SkillFilter, SortBy, StatusMessage, self_or_admin, staff,
    },
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
    /// At most 280 printable characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub message: StatusMessage,
    /// When the agent expects to be back (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub available_at: Option<Rfc3339>,
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
    let changed =
        roster::set_presence(&mut uow, id, req.status, req.message.as_deref(), at).await?;
    let mut requeued = Vec::new();
    if req.status == AgentStatus::Offline && changed.agent.auto_assign {
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
    uow.audit(Entry::new(
        id,
        "status_updated",
        json!({"status": req.status}),
    ))
    .await?;
    // Routing reads presence from Redis. The record is committed first; should Redis be
    // unreachable, the reconciler carries the change over within its period.
    let (presence, db, version) = (s.presence.clone(), s.db.clone(), changed.presence_version);
    uow.after_commit(async move {
        if let Err(e) = presence.set_status(id, version, req.status).await {
            tracing::warn!(error = %e, agent = %id, "presence not written to redis");
        }
        if !requeued.is_empty() {
            requeued.push(id);
            presence.sync_queues(&db, &requeued).await;
        }
    });
    uow.commit().await?;
    Ok(Json(changed.agent))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AvailableQuery {
    #[param(inline)]
    pub role: Option<Role>,
    /// Comma-separated; all must match.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub skills: SkillFilter,
    pub language: Option<String>,
    /// Free slots at least.
    pub min_capacity: Option<i32>,
    /// `utilization` (default) or `capacity`.
    #[serde(default)]
    #[param(inline)]
    pub sort: SortBy,
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
    let online = s.presence.online().await;
    let mut uow = s.db.begin_for(&p).await?;
    let wanted = roster::Wanted {
        role: q.role,
        skills: q.skills.as_slice(),
        language: q.language.as_deref(),
        min_capacity: q.min_capacity,
        sort: q.sort,
        online: online.as_deref(),
    };
    Ok(Json(roster::available(&mut uow, &wanted).await?))
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
        let long = json!({"status": "away", "message": "x".repeat(281)});
        assert_eq!(
            body_refusal::<Availability>(long).await,
            "message: at most 280 printable characters"
        );
        let when = json!({"status": "away", "available_at": "tomorrow"});
        assert_eq!(
            body_refusal::<Availability>(when).await,
            "available_at: must be an RFC 3339 time"
        );
        assert_eq!(
            query_refusal::<AvailableQuery>("role=wizard").await,
            "role: unknown role"
        );
        assert_eq!(
            query_refusal::<AvailableQuery>("sort=name").await,
            "sort: must be utilization or capacity"
        );
    }
}
