//! Postgres for services: pools, embedded migrations, tenant-scoped transactions for row-level
//! security, and the transactional outbox writer.
//!
//! Each service owns one database and connects as a role that does not own its tables, so the
//! RLS policies (forced) apply to every query it makes (ARCHITECTURE §5).
use std::time::Duration;

use sqlx::{
    Postgres,
    migrate::{Migration, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};
use uuid::Uuid;

pub mod outbox;

pub use sqlx::PgPool;

/// A transaction opened by [`begin`].
pub type Tx = sqlx::Transaction<'static, Postgres>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("event payload: {0}")]
    Payload(#[from] serde_json::Error),
}

impl From<StoreError> for problem::Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(e) => e.into(),
            other => problem::Problem::internal(other),
        }
    }
}

/// Pool settings. The defaults suit one service among eighteen in a single process against one
/// local PostgreSQL (`max_connections` 100): at most 4 connections each, opened on demand.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// Name shown in `pg_stat_activity`.
    pub application_name: String,
}

impl PoolConfig {
    pub fn new(url: impl Into<String>, application_name: impl Into<String>) -> Self {
        PoolConfig {
            url: url.into(),
            max_connections: 4,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            application_name: application_name.into(),
        }
    }
}

/// A pool that connects lazily: a service starts (and reports not-ready) while its database is
/// still coming up, instead of crash-looping.
pub fn connect_lazy(cfg: &PoolConfig) -> Result<PgPool, StoreError> {
    let opts: PgConnectOptions = cfg
        .url
        .parse::<PgConnectOptions>()
        .map_err(|e| StoreError::Config(format!("database URL: {e}")))?
        .application_name(&cfg.application_name);
    Ok(PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .min_connections(cfg.min_connections)
        .acquire_timeout(cfg.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(300)))
        .connect_lazy_with(opts))
}

/// Readiness probe: one round trip.
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Versions below this belong to the platform migrations shipped here; services number theirs
/// from it upwards.
pub const FIRST_SERVICE_VERSION: i64 = 1000;

static PLATFORM: Migrator = sqlx::migrate!("./migrations");

/// The full migration set of a service: the platform tables (outbox, handled events, RLS helper
/// functions) followed by the service's own.
pub fn migrator(service: &Migrator) -> Result<Migrator, StoreError> {
    let mut all: Vec<Migration> = PLATFORM.iter().cloned().collect();
    for m in service.iter() {
        if m.version < FIRST_SERVICE_VERSION {
            return Err(StoreError::Config(format!(
                "service migration {} must be numbered from {FIRST_SERVICE_VERSION}",
                m.version
            )));
        }
        all.push(m.clone());
    }
    let mut migrator = Migrator::with_migrations(all);
    // A database may hold migrations newer than this binary knows: a rollback to the previous
    // release, or old replicas restarting mid-rollout, runs against the schema the new release
    // migrated (migrations are additive, expand then contract, so older code still works on
    // it). Refusing to start there would turn a rollback into an outage. A known migration
    // whose text changed is still refused.
    migrator.set_ignore_missing(true);
    Ok(migrator)
}

/// Applies the platform and service migrations (as the owning role), then grants the
/// application role what it needs: data access, never ownership, so forced RLS binds it.
pub async fn migrate(
    owner_pool: &PgPool,
    service: &Migrator,
    app_role: Option<&str>,
) -> Result<(), StoreError> {
    migrator(service)?.run(owner_pool).await?;
    if let Some(role) = app_role {
        grant_app_role(owner_pool, role).await?;
    }
    Ok(())
}

/// Grants `role` DML on every table and use of every sequence in `public`, now and for tables
/// created later by the same owner.
pub async fn grant_app_role(owner_pool: &PgPool, role: &str) -> Result<(), StoreError> {
    if role.is_empty()
        || !role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(StoreError::Config(format!(
            "application role {role:?} must be a lower-case identifier"
        )));
    }
    for stmt in [
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
        ),
    ] {
        // The role name was checked above to be a plain identifier.
        sqlx::query(sqlx::AssertSqlSafe(stmt))
            .execute(owner_pool)
            .await?;
    }
    Ok(())
}

/// Who a transaction acts for; becomes `app.principal_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// A client organisation's user: sees its own organisation only.
    Client,
    /// A platform human agent: works across the organisations it serves.
    Agent,
    /// The service's own background work (relays, jobs, consumers acting across tenants).
    System,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Client => "client",
            PrincipalType::Agent => "agent",
            PrincipalType::System => "system",
        }
    }
}

/// The RLS context of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub organization_id: Option<Uuid>,
    pub principal: PrincipalType,
}

impl Scope {
    /// A client of `org`: only that organisation's rows are visible.
    pub fn tenant(org: Uuid) -> Self {
        Scope {
            organization_id: Some(org),
            principal: PrincipalType::Client,
        }
    }

    /// A human agent, optionally working in one organisation's context.
    pub fn agent(org: Option<Uuid>) -> Self {
        Scope {
            organization_id: org,
            principal: PrincipalType::Agent,
        }
    }

    /// The service itself, across tenants.
    pub fn system() -> Self {
        Scope {
            organization_id: None,
            principal: PrincipalType::System,
        }
    }
}

/// Opens a transaction and sets the RLS settings (transaction-local) in the same round trip:
/// `BEGIN` and the `set_config` calls travel as one simple query.
pub async fn begin(pool: &PgPool, scope: Scope) -> Result<Tx, StoreError> {
    open(pool, scope, "BEGIN").await
}

/// [`begin`] for a read: `BEGIN READ ONLY`, so the transaction takes no row locks for writing,
/// needs no commit flush, and any write attempted in it fails instead of slipping in.
pub async fn begin_read(pool: &PgPool, scope: Scope) -> Result<Tx, StoreError> {
    open(pool, scope, "BEGIN READ ONLY").await
}

async fn open(pool: &PgPool, scope: Scope, begin: &str) -> Result<Tx, StoreError> {
    // Both values are typed (a UUID's canonical form, a fixed word), never caller text, so
    // inlining them cannot inject SQL; `begin` is one of the two constants above.
    let org = scope
        .organization_id
        .map(|o| o.to_string())
        .unwrap_or_default();
    let stmt = format!(
        "{begin}; SELECT set_config('app.current_organization_id', '{org}', true), \
         set_config('app.principal_type', '{}', true)",
        scope.principal.as_str()
    );
    Ok(pool.begin_with(sqlx::AssertSqlSafe(stmt)).await?)
}

/// `begin` for one tenant: the transaction sees only `org`'s rows.
pub async fn tenant_tx(pool: &PgPool, org: Uuid) -> Result<Tx, StoreError> {
    begin(pool, Scope::tenant(org)).await
}

/// Sets the RLS context on an open transaction (e.g. a consumer's, once it knows the tenant).
pub async fn set_scope(tx: &mut Tx, scope: Scope) -> Result<(), StoreError> {
    let org = scope
        .organization_id
        .map(|o| o.to_string())
        .unwrap_or_default();
    sqlx::query(
        "SELECT set_config('app.current_organization_id', $1, true), \
                set_config('app.principal_type', $2, true)",
    )
    .bind(org)
    .bind(scope.principal.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Maps one named constraint's violation to a precise problem in one line:
/// `insert(...).await.on_constraint("users_email_key", || Problem::conflict("email taken"))?`.
pub trait ConstraintExt<T> {
    fn on_constraint(
        self,
        constraint: &str,
        problem: impl FnOnce() -> problem::Problem,
    ) -> Result<T, problem::Problem>;
}

impl<T> ConstraintExt<T> for Result<T, sqlx::Error> {
    fn on_constraint(
        self,
        constraint: &str,
        problem: impl FnOnce() -> problem::Problem,
    ) -> Result<T, problem::Problem> {
        match self {
            Ok(v) => Ok(v),
            Err(sqlx::Error::Database(db)) if db.constraint() == Some(constraint) => Err(problem()),
            Err(e) => Err(e.into()),
        }
    }
}
