//! Operator commands (`fleet admin …`): the first platform admin. There are no default
//! credentials: the operator chooses the address and password.
use anyhow::Context as _;
use kit::{Db, FleetConfig, Origin, Problem, input::check_text, store};
use uuid::Uuid;

use crate::{SERVICE, audit::Entry, rules, security, sessions};

/// Creates a platform admin (an agent login with role `platform_admin`); returns its user id
/// and agent id.
pub async fn create_platform_admin(
    config: &FleetConfig,
    email: &str,
    full_name: &str,
    password: String,
) -> anyhow::Result<(Uuid, Uuid)> {
    let detail = |p: Problem| anyhow::anyhow!("{}", p.detail());
    let email = rules::email("email", email).map_err(detail)?;
    rules::password_policy("password", &password, &email).map_err(detail)?;
    let name = check_text(full_name, 1, 200).map_err(|m| detail(Problem::invalid("name", m)))?;
    let hash = security::hash_password(password).await.map_err(detail)?;
    let mut pool_cfg = store::PoolConfig::new(config.database_url(&SERVICE, false)?, "fleet-admin");
    pool_cfg.max_connections = 1;
    let pool = store::connect_lazy(&pool_cfg)?;
    store::ping(&pool)
        .await
        .context("connecting to org-auth's database (has `make run` or `fleet migrate` run?)")?;
    let db = Db::new(pool, SERVICE.name);
    let operator = Origin {
        ip: "cli".into(),
        user_agent: Some("fleet admin".into()),
    };
    let mut uow = db.system().await.map_err(detail)?.from(&operator);
    if sessions::load_user_by_email(&mut uow, &email)
        .await
        .map_err(detail)?
        .is_some()
    {
        anyhow::bail!("an account already exists for {email}");
    }
    let (user, agent) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, full_name, user_type, role, agent_id, email_verified) \
         VALUES ($1, $2, $3, $4, 'agent', 'platform_admin', $5, true)",
    )
    .bind(user)
    .bind(&email)
    .bind(&hash)
    .bind(&name)
    .bind(agent)
    .execute(&mut *uow)
    .await?;
    uow.audit(Entry::new("platform_admin_created").user(user))
        .await
        .map_err(detail)?;
    uow.commit().await.map_err(detail)?;
    db.pool().close().await;
    Ok((user, agent))
}
