//! The test harness: a fresh database per test (created, migrated, dropped), unique Kafka topics
//! and consumer groups, token minting, and a service started on ephemeral ports — all against
//! the real PostgreSQL, Redis and Kafka-protocol broker.
//!
//! On top of it, what every service's tests share: [`Svc`], a typed client
//! (`t.post(path).bearer(&tok).json(body).expect(201).await`); unique identities
//! ([`unique_email`], [`unique_org_name`]); the service's [`Mailbox`]; outbox assertions
//! ([`assert_outbox`], [`assert_outbox_once`]); [`assert_forced_rls`] over the service's
//! database; the OpenAPI-driven cross-tenant [`Probe`]; and the specification's HTTP examples
//! ([`examples::Replay`]).
//!
//! Settings (all optional): `FLEET_TEST_PG_ADMIN_URL` (a role that may create databases;
//! default `postgres://fleet_owner@127.0.0.1:5432/postgres`), `FLEET_TEST_PG_HOST`
//! (`127.0.0.1:5432`), `FLEET_TEST_REDIS_URL`, `FLEET_TEST_KAFKA`.
use std::{collections::HashMap, sync::Once, time::Duration};

use anyhow::Context as _;
use kit::{
    auth::{Claims, JwksSource, Signer, SigningKey, Verifier, VerifierConfig},
    events::KafkaConfig,
    runtime::{Fleet, Launch, Shared},
    service::ServiceDef,
    sqlx::{self, PgPool, migrate::Migrator},
    store,
};
use uuid::Uuid;

#[cfg(feature = "browser")]
pub mod browser;
pub mod client;
pub mod examples;
pub mod mailbox;
pub mod outbox;
pub mod probe;
pub mod rls;
pub mod sample;

pub use client::{Auth, IntoStatus, PROBLEM_JSON, Request, Response, Svc};
pub use mailbox::Mailbox;
pub use outbox::{
    assert_outbox, assert_outbox_count, assert_outbox_once, outbox_events, outbox_types,
};
pub use probe::{Probe, ProbeFailure, ProbeReport};
pub use rls::{assert_forced_rls, assert_forced_rls_in, check_forced_rls, forced_rls_violations};

pub const OWNER_ROLE: &str = "fleet_owner";
pub const APP_ROLE: &str = "fleet_app";
pub const ISSUER: &str = "https://auth.test.local";
pub const AUDIENCE: &str = "workflow-platform";

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

pub fn admin_url() -> String {
    env_or(
        "FLEET_TEST_PG_ADMIN_URL",
        "postgres://fleet_owner@127.0.0.1:5432/postgres",
    )
}

fn pg_host() -> String {
    env_or("FLEET_TEST_PG_HOST", "127.0.0.1:5432")
}

pub fn redis_url() -> String {
    env_or("FLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// Kafka settings for tests: the local broker, with short group timings (Tansu finishes a
/// group join only after the rebalance timeout).
pub fn kafka() -> KafkaConfig {
    let mut k = KafkaConfig::new(env_or("FLEET_TEST_KAFKA", "127.0.0.1:9092"));
    k.session_timeout_ms = 3_000;
    k.max_poll_interval_ms = 3_000;
    k.fetch_wait_max_ms = 10;
    k
}

/// Logs for a failing test: `RUST_LOG=debug cargo nextest run …`.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

/// A name unique to this test run: `prefix_<uuid>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// A work address unique to this run: `<tag>.<8 hex>@acme.com` (a company domain, as signup
/// requires).
pub fn unique_email(tag: &str) -> String {
    unique_email_at(tag, "acme.com")
}

/// [`unique_email`] at `domain`.
pub fn unique_email_at(tag: &str, domain: &str) -> String {
    format!(
        "{tag}.{}@{domain}",
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

/// An organisation name unique to this run: `<prefix> <8 hex>`.
pub fn unique_org_name(prefix: &str) -> String {
    format!("{prefix} {}", &Uuid::new_v4().simple().to_string()[..8])
}

/// A client address (documentation range 198.51.100.0/24) for one test's requests.
pub fn client_ip() -> String {
    format!("198.51.100.{}", Uuid::new_v4().as_bytes()[0])
}

/// A fresh topic (and its dead-letter topic), created on the broker.
pub async fn topic(prefix: &str) -> anyhow::Result<String> {
    let t = unique(prefix);
    kit::events::ensure_topics(&kafka(), &[t.clone(), kit::events::dlq_topic(&t)], 1).await?;
    Ok(t)
}

async fn ensure_roles(admin: &PgPool) -> anyhow::Result<()> {
    let present: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_roles WHERE rolname IN ('fleet_owner', 'fleet_app')",
    )
    .fetch_one(admin)
    .await?;
    anyhow::ensure!(
        present == 2,
        "roles {OWNER_ROLE} and {APP_ROLE} are missing: run scripts/deps.sh (make deps)"
    );
    Ok(())
}

/// Drops test databases left behind by killed test processes (older than two hours).
async fn sweep(admin: &PgPool) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'fleet\\_test\\_%'")
            .fetch_all(admin)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0);
        if now.saturating_sub(created) > 7200 {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(admin)
            .await;
        }
    }
}

/// A database created for one test, owned by the owner role, migrated, with the application
/// role granted. Dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    /// Connected as the application role (RLS applies).
    pub app: PgPool,
    /// Connected as the owner (migrations, fixtures that bypass the API).
    pub owner: PgPool,
}

impl TestDb {
    /// A database with the platform tables and `service`'s migrations.
    pub async fn new(service: &Migrator) -> anyhow::Result<Self> {
        let db = Self::empty().await?;
        store::migrate(&db.owner, service, Some(APP_ROLE))
            .await
            .context("migrating test database")?;
        Ok(db)
    }

    /// A database with only the platform tables.
    pub async fn platform() -> anyhow::Result<Self> {
        static NONE: Migrator = Migrator {
            migrations: std::borrow::Cow::Borrowed(&[]),
            ignore_missing: false,
            locking: true,
            no_tx: false,
            table_name: std::borrow::Cow::Borrowed("_sqlx_migrations"),
            create_schemas: std::borrow::Cow::Borrowed(&[]),
        };
        Self::new(&NONE).await
    }

    async fn empty() -> anyhow::Result<Self> {
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url())
            .await
            .context("connecting to PostgreSQL as admin (is it running? `make deps`)")?;
        ensure_roles(&admin).await?;
        sweep(&admin).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let name = format!("fleet_test_{now}_{}", Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} OWNER {OWNER_ROLE}"
        )))
        .execute(&admin)
        .await?;
        admin.close().await;
        let host = pg_host();
        let owner = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&format!("postgres://{OWNER_ROLE}@{host}/{name}"))
            .await?;
        let app = store::connect_lazy(&store::PoolConfig::new(
            format!("postgres://{APP_ROLE}@{host}/{name}"),
            "fleet-test",
        ))?;
        Ok(TestDb { name, app, owner })
    }

    /// The application-role URL (for starting a service against this database).
    pub fn app_url(&self) -> String {
        format!("postgres://{APP_ROLE}@{}/{}", pg_host(), self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let (app, owner) = (self.app.clone(), self.owner.clone());
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                drop((app, owner));
                if let Ok(admin) = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin_url())
                    .await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A signing key and matching verifier for tests.
#[derive(Clone)]
pub struct Tokens {
    pub signer: Signer,
    pub verifier: Verifier,
}

impl Tokens {
    pub fn new() -> anyhow::Result<Self> {
        let signer = Signer::new(
            vec![SigningKey::generate()?],
            ISSUER,
            AUDIENCE,
            Duration::from_secs(900),
        )?;
        let verifier = Verifier::new(VerifierConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway: Duration::from_secs(5),
            source: JwksSource::Static(signer.jwks()),
        })?;
        Ok(Tokens { signer, verifier })
    }

    /// A client user's access token.
    pub fn client(&self, user: Uuid, org: Uuid, role: &str) -> String {
        self.signer
            .issue(Claims::client(user, Some(org), role))
            .expect("signing a test token")
    }

    /// A human agent's access token.
    pub fn agent(&self, user: Uuid, agent: Uuid, roles: &[&str]) -> String {
        self.signer
            .issue(Claims::agent(user, agent, roles))
            .expect("signing a test token")
    }
}

/// A service running for a test on ephemeral ports, with its own database.
pub struct Spawned {
    pub fleet: Fleet,
    pub db: TestDb,
    pub tokens: Tokens,
    pub shared: Shared,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub grpc: String,
    /// `http://127.0.0.1:<port>/metrics`: the metrics port.
    pub metrics: String,
    pub http: reqwest::Client,
    /// Where the service's file mailbox writes.
    pub mailbox: std::path::PathBuf,
}

impl Spawned {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(self) {
        self.fleet.stop().await;
    }

    /// One JSON request: the status and the body (JSON, or the text as a JSON string).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let mut req = self.http.request(method.clone(), self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        // As through the edge: its injected headers signed.
        if let Some(key) = &self.shared.edge {
            let owned: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            for (k, v) in client::edge_headers(key, method.as_str(), path, &owned, token) {
                req = req.header(k, v);
            }
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status();
        let text = res.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        ))
    }
}

/// Settings a spawned service sees (as if from its environment).
pub fn test_env(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("FLEET_ENV", "development".to_string()),
        ("FLEET_REDIS_URL", redis_url()),
        ("FLEET_KAFKA_BOOTSTRAP", kafka().bootstrap),
        ("FLEET_KAFKA_SESSION_TIMEOUT_MS", "3000".into()),
        ("FLEET_KAFKA_MAX_POLL_INTERVAL_MS", "3000".into()),
        ("FLEET_KAFKA_CREATE_TOPICS", "false".into()),
        ("FLEET_JWT_ISSUER", ISSUER.into()),
        ("FLEET_JWT_AUDIENCE", AUDIENCE.into()),
        ("FLEET_RATE_LIMIT_NAMESPACE", format!("{}:", unique("t"))),
        // Each spawned service gets its own topics and groups on the shared broker.
        ("FLEET_KAFKA_NAMESPACE", format!("{}.", unique("t"))),
        (
            "FLEET_MAILBOX_DIR",
            std::env::temp_dir()
                .join(unique("mailbox"))
                .to_string_lossy()
                .to_string(),
        ),
        // Development secrets (org-auth's MFA key) of this service only, not the checkout's var/.
        (
            "FLEET_STATE_DIR",
            std::env::temp_dir()
                .join(unique("state"))
                .to_string_lossy()
                .to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// Starts `def` on ephemeral ports against a fresh database and waits until it is ready.
pub async fn spawn(def: &'static ServiceDef) -> anyhow::Result<Spawned> {
    spawn_with(def, &[]).await
}

/// [`spawn`] with extra settings.
pub async fn spawn_with(
    def: &'static ServiceDef,
    extra: &[(&str, &str)],
) -> anyhow::Result<Spawned> {
    spawn_with_tokens(def, extra, Tokens::new()?).await
}

/// [`spawn_with`] sharing `tokens` (several services trusting one issuer, as behind the edge).
pub async fn spawn_with_tokens(
    def: &'static ServiceDef,
    extra: &[(&str, &str)],
    tokens: Tokens,
) -> anyhow::Result<Spawned> {
    init_tracing();
    let db = TestDb::new(def.migrations).await?;
    let config = kit::FleetConfig::from_map(test_env(extra))?;
    let mailbox = config.mailbox_dir.clone();
    let topics: Vec<String> = def
        .publishes
        .iter()
        .chain(def.consumes.iter())
        .chain(std::iter::once(&kit::contracts::events::topic::REVOCATION))
        .flat_map(|t| {
            [
                config.kafka.topic(t),
                kit::events::dlq_topic(&config.kafka.topic(t)),
            ]
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>();
    kit::events::ensure_topics(&config.kafka, &topics, 1).await?;
    let shared = Shared::with_tokens(config, tokens.verifier.clone(), Some(tokens.signer.clone()))?;
    let fleet = kit::runtime::start(
        &shared,
        vec![Launch {
            def,
            http: "127.0.0.1:0".parse()?,
            grpc: "127.0.0.1:0".parse()?,
            db: db.app.clone(),
        }],
    )
    .await?;
    let svc = fleet.services[0].clone();
    anyhow::ensure!(
        fleet.wait_ready(Duration::from_secs(20)).await,
        "{} did not become ready",
        def.name
    );
    Ok(Spawned {
        base: format!("http://{}", svc.http),
        grpc: format!("http://{}", svc.grpc),
        metrics: format!("http://{}/metrics", svc.metrics),
        fleet,
        db,
        tokens,
        shared,
        http: reqwest::Client::new(),
        mailbox,
    })
}

/// Stops a child process the way an operator would: SIGTERM (the fleet leaves its consumer
/// groups and drains), then, after 10 s, SIGKILL.
pub fn terminate(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(std::process::Stdio::null())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
