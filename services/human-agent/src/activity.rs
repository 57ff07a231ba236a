//! The activity log: every agent action, queryable per agent.
use kit::{Problem, store::Tx};
use serde_json::Value;
use uuid::Uuid;

pub async fn log(
    tx: &mut Tx,
    agent: Uuid,
    actor: Option<Uuid>,
    action: &str,
    org: Option<Uuid>,
    details: Value,
) -> Result<(), Problem> {
    sqlx::query(
        "INSERT INTO agent_activity_logs (id, agent_id, actor_id, action, organization_id, details) VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(Uuid::now_v7())
    .bind(agent)
    .bind(actor)
    .bind(action)
    .bind(org)
    .bind(details)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
