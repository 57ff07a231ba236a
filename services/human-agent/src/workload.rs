//! An agent's workload and queue (spec §0.5, endpoint 6): its active clients with where each
//! stands against its deadlines, what waits for its answer, its capacity and performance.
use axum::extract::{Path, State};
use kit::{
    Json, Problem, Timestamp,
    auth::Principal,
    sqlx::PgConnection,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    handover, roster,
    rules::{self, AgentStatus, SlaStatus, Urgency, self_or_admin},
    staffing::{self, Performance},
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(workload))
}

/// An active assignment as stored.
#[derive(sqlx::FromRow)]
struct Active {
    assignment_id: Uuid,
    client_id: Uuid,
    client_name: Option<String>,
    organization_id: Uuid,
    role_type: String,
    lifecycle_stage: String,
    priority: Urgency,
    next_action: Option<String>,
    first_response_due_at: Timestamp,
    expected_completion: Timestamp,
    created_at: Timestamp,
}

/// An active assignment as answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkloadAssignment {
    pub assignment_id: Uuid,
    pub client_id: Uuid,
    /// The company, as the assigning party named it (`context.company_name`); `null` if never.
    pub client_name: Option<String>,
    pub organization_id: Uuid,
    pub role: String,
    pub stage: String,
    pub assigned_since: Timestamp,
    pub priority: Urgency,
    /// Against the stage's expected completion: `on_track`, `at_risk` (within a day) or
    /// `overdue`.
    pub sla_status: SlaStatus,
    /// The first of the next actions handed over, else the first contact while it is due,
    /// else completing the stage.
    pub next_action: String,
    pub next_action_deadline: Timestamp,
    pub expected_completion: Timestamp,
    /// As answered before: `role_type`, `lifecycle_stage`, `created_at`.
    pub role_type: String,
    pub lifecycle_stage: String,
    pub first_response_due_at: Timestamp,
    pub created_at: Timestamp,
}

impl Active {
    fn answer(self, now: Timestamp) -> WorkloadAssignment {
        let contact_due = now.0 < self.first_response_due_at.0;
        let next_action = self.next_action.unwrap_or_else(|| {
            let default = if contact_due {
                "first_contact"
            } else {
                "complete_stage"
            };
            default.to_string()
        });
        WorkloadAssignment {
            assignment_id: self.assignment_id,
            client_id: self.client_id,
            client_name: self.client_name,
            organization_id: self.organization_id,
            role: self.role_type.clone(),
            stage: self.lifecycle_stage.clone(),
            assigned_since: self.created_at,
            priority: self.priority,
            sla_status: rules::sla_status(now, self.expected_completion),
            next_action,
            next_action_deadline: if contact_due {
                self.first_response_due_at
            } else {
                self.expected_completion
            },
            expected_completion: self.expected_completion,
            role_type: self.role_type,
            lifecycle_stage: self.lifecycle_stage,
            first_response_due_at: self.first_response_due_at,
            created_at: self.created_at,
        }
    }
}

/// The agent's active assignments, oldest first; a client is named by the latest company name
/// any of its assignments was given.
async fn active(conn: &mut PgConnection, agent: Uuid) -> Result<Vec<Active>, Problem> {
    Ok(sqlx::query_as(
        "SELECT a.id AS assignment_id, a.client_id, a.organization_id, a.role_type, a.lifecycle_stage, a.priority, \
           (SELECT c.context->>'company_name' FROM client_assignments c WHERE c.client_id = a.client_id \
            AND c.context ? 'company_name' ORDER BY c.created_at DESC LIMIT 1) AS client_name, \
           a.context->'next_actions'->>0 AS next_action, a.first_response_due_at, a.expected_completion, a.created_at \
         FROM client_assignments a WHERE a.agent_id = $1 AND a.status = 'active' ORDER BY a.created_at",
    )
    .bind(agent)
    .fetch_all(conn)
    .await?)
}

async fn invitations_pending(conn: &mut PgConnection, agent: Uuid) -> Result<i64, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM specialist_invitations WHERE specialist_agent_id = $1 AND status = 'pending'",
    )
    .bind(agent)
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Capacity {
    pub active_clients: usize,
    pub pending_handoffs: usize,
    pub pending_invitations: i64,
    pub max_capacity: i32,
    pub utilization_percent: i64,
    pub available_capacity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingItems {
    pub handoffs_to_accept: usize,
    pub invitations_to_respond: i64,
    /// Active assignments past their expected completion.
    pub overdue_actions: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Workload {
    pub agent_id: Uuid,
    pub full_name: String,
    pub primary_role: String,
    pub all_roles: Vec<String>,
    pub current_status: AgentStatus,
    pub workload: Capacity,
    pub active_assignments: Vec<WorkloadAssignment>,
    pub pending_items: PendingItems,
    pub performance: Performance,
    /// As answered before: the active assignments, presence, capacity, the share in use
    /// (0–1), handoffs waiting (oldest first).
    pub assignments: Vec<WorkloadAssignment>,
    pub status: AgentStatus,
    pub max_capacity: i32,
    pub available_capacity: i64,
    pub utilization: f64,
    pub queued_handoffs: Vec<Uuid>,
}

/// An agent's active clients, queue, capacity and performance (the agent, or a platform
/// admin).
#[utoipa::path(get, path = "/api/v1/agents/{agent_id}/workload", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = Uuid, Path)), responses((status = 200, body = Workload), (status = 403, body = kit::ProblemBody),
    (status = 404, body = kit::ProblemBody)))]
pub async fn workload(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Workload>, Problem> {
    self_or_admin(&p, id)?;
    let mut uow = s.db.read_for(&p).await?;
    let agent = roster::load(&mut uow, id).await?;
    let now = Timestamp::now();
    let assignments: Vec<WorkloadAssignment> = active(&mut uow, id)
        .await?
        .into_iter()
        .map(|a| a.answer(now))
        .collect();
    // Served from Redis; the record answers when Redis cannot.
    let queued_handoffs = match s.presence.queue(id).await {
        Some(q) => q,
        None => handover::queued_for(&mut uow, id).await?,
    };
    let invitations = invitations_pending(&mut uow, id).await?;
    let performance = staffing::performance(&mut uow, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    uow.commit().await?;
    let (n, cap) = (assignments.len() as i64, agent.max_capacity);
    let overdue = assignments
        .iter()
        .filter(|a| a.sla_status == SlaStatus::Overdue)
        .count();
    Ok(Json(Workload {
        agent_id: id,
        full_name: agent.full_name,
        primary_role: agent.primary_role,
        all_roles: agent.roles,
        current_status: agent.status,
        workload: Capacity {
            active_clients: assignments.len(),
            pending_handoffs: queued_handoffs.len(),
            pending_invitations: invitations,
            max_capacity: cap,
            utilization_percent: rules::utilization_percent(n, cap),
            available_capacity: i64::from(cap) - n,
        },
        assignments: assignments.clone(),
        active_assignments: assignments,
        pending_items: PendingItems {
            handoffs_to_accept: queued_handoffs.len(),
            invitations_to_respond: invitations,
            overdue_actions: overdue,
        },
        performance,
        status: agent.status,
        max_capacity: cap,
        available_capacity: i64::from(cap) - n,
        utilization: rules::utilization(n, cap),
        queued_handoffs,
    }))
}
