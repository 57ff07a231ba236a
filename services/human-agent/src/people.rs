//! Agents as the answers name them (`{agent_id, full_name, role_type}`) and as notices reach
//! them: name, address, presence and announced return.
use kit::{Problem, Timestamp, sqlx::PgConnection};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::rules::AgentStatus;

/// An agent named in an answer, in the role it acts in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentRef {
    pub agent_id: Uuid,
    pub full_name: String,
    pub role_type: String,
    /// Where the agent stands on the proposal, e.g. `pending_acceptance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

/// An agent as notices reach it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub agent_id: Uuid,
    pub full_name: String,
    pub email: String,
    pub status: AgentStatus,
    pub available_at: Option<Timestamp>,
}

impl Person {
    /// Named in `role` (its text: a role or a specialist type).
    pub fn named(&self, role: &str) -> AgentRef {
        AgentRef {
            agent_id: self.agent_id,
            full_name: self.full_name.clone(),
            role_type: role.to_string(),
            status: None,
        }
    }

    /// Named in `role`, with the proposal waiting for its answer.
    pub fn proposed(&self, role: &str) -> AgentRef {
        AgentRef {
            status: Some("pending_acceptance"),
            ..self.named(role)
        }
    }

    /// When it can next take the work: now when online, else the return it announced (none
    /// when it announced none still ahead).
    pub fn estimated_availability(&self, now: Timestamp) -> Option<Timestamp> {
        match (self.status, self.available_at) {
            (AgentStatus::Online, _) => Some(now),
            (_, Some(at)) if at.0 > now.0 => Some(at),
            _ => None,
        }
    }
}

/// The agent `id`; 500 if it has no profile (callers name agents they have just read).
pub async fn person(conn: &mut PgConnection, id: Uuid) -> Result<Person, Problem> {
    sqlx::query_as(
        "SELECT agent_id, full_name, email, status, available_at FROM agent_profiles WHERE agent_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Problem::internal(format!("agent {id} has no profile")))
}
