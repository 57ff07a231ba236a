//! Operator commands (`fleet admin …`): the platform admin's agent profile. The login is made
//! by org-auth; the profile lives here, so that the permissions lookup (Kong's
//! agent-permissions plugin) knows the admin like any other agent.
use anyhow::Context as _;
use kit::{
    Db, FleetConfig,
    contracts::events::v1,
    store::{self, Scope},
    uow::Work as _,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    SERVICE,
    activity::Entry,
    rules::{self, Role},
};

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
    let db = Db::new(pool.clone(), SERVICE.name);
    let mut tx = store::begin(&pool, Scope::system())
        .await
        .context("connecting to human-agent's database (has `make run` or `fleet migrate` run?)")?;
    let mut w = db.within(&mut tx, Scope::system()).await?;
    let roles = vec![Role::PlatformAdmin.to_string()];
    sqlx::query(
        "INSERT INTO agent_profiles (agent_id, user_id, email, full_name, primary_role, roles, permissions, max_capacity) \
         VALUES ($1, $2, $3, $4, 'platform_admin', $5, $6, 1)",
    )
    .bind(agent)
    .bind(user)
    .bind(email)
    .bind(full_name)
    .bind(&roles)
    .bind(rules::default_permissions(&[Role::PlatformAdmin]))
    .execute(&mut *w)
    .await
    .context("creating the platform admin's agent profile")?;
    let registered = v1::AgentRegistered {
        agent_id: agent.to_string(),
        roles,
    };
    let detail = |p: kit::Problem| anyhow::anyhow!("{}", p.detail());
    w.emit(Uuid::nil(), agent, &registered)
        .await
        .map_err(detail)?;
    let entry = Entry::new(agent, "agent_registered", json!({"by": "fleet admin"}));
    w.audit(entry).await.map_err(detail)?;
    tx.commit().await?;
    pool.close().await;
    Ok(())
}
