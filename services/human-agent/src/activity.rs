//! The activity log: every agent action, queryable per agent. An [`Entry`] is written in the
//! unit of work of the action it records (`uow.audit(entry)`).
use std::future::Future;

use kit::{AuditContext, Problem, Timestamp, sqlx::PgConnection};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// One row of `agent_activity_logs`.
#[derive(Debug)]
pub struct Entry {
    agent: Uuid,
    action: &'static str,
    organization: Option<Uuid>,
    details: Value,
}

impl Entry {
    /// `action` of `agent`, by the unit's acting user.
    pub fn new(agent: Uuid, action: &'static str, details: Value) -> Self {
        Entry {
            agent,
            action,
            organization: None,
            details,
        }
    }

    /// The organisation (client) the action concerns.
    pub fn org(mut self, org: Uuid) -> Self {
        self.organization = Some(org);
        self
    }
}

impl kit::Audit for Entry {
    fn write<'a>(
        self,
        conn: &'a mut PgConnection,
        ctx: &'a AuditContext,
    ) -> impl Future<Output = Result<(), Problem>> + Send + 'a {
        // The acting user of the unit (none for the service's own work: consumers, jobs).
        let actor = ctx.actor.user_id;
        async move {
            sqlx::query(
                "INSERT INTO agent_activity_logs (id, agent_id, actor_id, action, organization_id, details) \
                 VALUES ($1,$2,$3,$4,$5,$6)",
            )
            .bind(Uuid::now_v7())
            .bind(self.agent)
            .bind(actor)
            .bind(self.action)
            .bind(self.organization)
            .bind(self.details)
            .execute(conn)
            .await?;
            Ok(())
        }
    }
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ActivityEntry {
    pub action: String,
    pub actor_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: Timestamp,
}

/// The agent's latest 500 entries, newest first.
pub async fn of(conn: &mut PgConnection, agent: Uuid) -> Result<Vec<ActivityEntry>, Problem> {
    Ok(sqlx::query_as(
        "SELECT action, actor_id, organization_id, details, created_at FROM agent_activity_logs \
         WHERE agent_id = $1 ORDER BY created_at DESC, id DESC LIMIT 500",
    )
    .bind(agent)
    .fetch_all(conn)
    .await?)
}
