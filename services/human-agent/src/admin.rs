//! Operator commands (`fleet admin …`): the platform admin's agent profile. The login is made
//! by org-auth; the profile lives here, so that the permissions lookup (Kong's
//! agent-permissions plugin) knows the admin like any other agent.
use anyhow::Context as _;
use kit::{
    FleetConfig,
    contracts::events::v1,
    store::{self, Scope, outbox},
};
use serde_json::json;
use uuid::Uuid;

use crate::{SERVICE, SOURCE, activity, agents::default_permissions, now_rfc3339};

/// Creates the profile of a platform admin whose login org-auth created (`user`, `agent`).
pub async fn create_platform_admin_profile(
    config: &FleetConfig,
    user: Uuid,
    agent: Uuid,
    email: &str,
    full_name: &str,
) -> anyhow::Result<()> {
    let mut pool_cfg = store::PoolConfig::new(config.database_url(&SERVICE, false)?, "fleet-admin");
    pool_cfg.max_connections = 1;
    let pool = store::connect_lazy(&pool_cfg)?;
    let mut tx = store::begin(&pool, Scope::system())
        .await
        .context("connecting to human-agent's database (has `make run` or `fleet migrate` run?)")?;
    let roles = vec!["platform_admin".to_string()];
    sqlx::query(
        "INSERT INTO agent_profiles (agent_id, user_id, email, full_name, primary_role, roles, permissions, max_capacity) \
         VALUES ($1, $2, $3, $4, 'platform_admin', $5, $6, 1)",
    )
    .bind(agent)
    .bind(user)
    .bind(email)
    .bind(full_name)
    .bind(&roles)
    .bind(default_permissions(&roles))
    .execute(&mut *tx)
    .await
    .context("creating the platform admin's agent profile")?;
    outbox::publish(
        &mut tx,
        SOURCE,
        Uuid::nil(),
        agent,
        &v1::AgentRegistered {
            agent_id: agent.to_string(),
            roles: roles.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    activity::log(
        &mut tx,
        agent,
        None,
        "agent_registered",
        None,
        json!({"by": "fleet admin"}),
    )
    .await
    .map_err(|p| anyhow::anyhow!("{}", p.detail()))?;
    tx.commit().await?;
    pool.close().await;
    Ok(())
}
