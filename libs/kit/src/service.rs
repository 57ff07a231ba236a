//! What a service is to the runtime: its identity (name, ports, database, topics), its embedded
//! migrations, and a builder that turns shared resources into its parts (HTTP routes with their
//! OpenAPI, gRPC services, Kafka consumers, background jobs).
use std::{future::Future, pin::Pin, sync::Arc};

use sqlx::migrate::Migrator;
use utoipa_axum::router::OpenApiRouter;

pub use crate::job::Job;
use crate::{config::FleetConfig, metrics::Metrics};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How far a service is built; shown by `fleet targets` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Runtime only (health, readiness, metrics, OpenAPI, gRPC health, migrations with the
    /// outbox): none of its own endpoints yet.
    Planned,
    /// Some of its specified capabilities are served.
    Partial,
    /// Its specified capabilities are served.
    Built,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Partial => "partial",
            Status::Built => "built",
        }
    }
}

/// A service's identity and builder. Each service crate exports one as `SERVICE`.
pub struct ServiceDef {
    /// Crate and target name, e.g. `org-auth`.
    pub name: &'static str,
    /// The spec's service number.
    pub number: &'static str,
    pub summary: &'static str,
    pub status: Status,
    pub http_port: u16,
    pub grpc_port: u16,
    pub database: &'static str,
    pub publishes: &'static [&'static str],
    pub consumes: &'static [&'static str],
    /// Public path prefixes (Kong routes), e.g. `/api/v1/auth`.
    pub public_prefixes: &'static [&'static str],
    /// The service's own migrations (versions from 1000); the platform's are added to them.
    pub migrations: &'static Migrator,
    /// What the runtime provides it beyond the common resources.
    pub capabilities: Capabilities,
    /// Its own problem types (the kit's common ones are added), documented in its OpenAPI.
    pub problems: &'static [problem::ProblemType],
    /// Data the service ships in the repository, loaded by `fleet migrate` after the
    /// migrations (as the owning role); it must be idempotent. `None` for most services.
    pub seed: Option<Seed>,
    /// Which internal caller may call which of its gRPC methods and internal HTTP routes;
    /// anything not listed is refused (PERMISSION_DENIED / 403).
    pub callers: &'static [Grant],
    pub build: fn(Ctx) -> BoxFuture<anyhow::Result<Parts>>,
}

/// A service's seed: given its database (owner connection), loads what it ships.
pub type Seed = fn(store::PgPool) -> BoxFuture<anyhow::Result<()>>;

/// What one internal caller (`kong`, or a service by name) may call on a service.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub caller: &'static str,
    /// Full gRPC method paths: `/workflow.org_auth.v1.OrgAuth/CreateAgentUser`.
    pub grpc: &'static [&'static str],
    /// Internal HTTP routes as `METHOD /route/{param}` (the route's template):
    /// `GET /api/v1/agents/{agent_id}/permissions`.
    pub http: &'static [&'static str],
}

impl Grant {
    /// gRPC methods for `caller`.
    pub const fn grpc(caller: &'static str, methods: &'static [&'static str]) -> Grant {
        Grant {
            caller,
            grpc: methods,
            http: &[],
        }
    }

    /// Internal HTTP routes for `caller`.
    pub const fn http(caller: &'static str, routes: &'static [&'static str]) -> Grant {
        Grant {
            caller,
            grpc: &[],
            http: routes,
        }
    }
}

/// What a service needs of the process it runs in, so the binary never tests a name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// It signs tokens: the process loads (or, in development, creates) the signing key.
    pub issues_tokens: bool,
}

impl Capabilities {
    pub const NONE: Capabilities = Capabilities {
        issues_tokens: false,
    };
    pub const TOKEN_ISSUER: Capabilities = Capabilities {
        issues_tokens: true,
    };
}

impl ServiceDef {
    /// Prefix of its per-service settings: `org-auth` → `ORG_AUTH`.
    pub fn env_prefix(&self) -> String {
        self.name.to_ascii_uppercase().replace('-', "_")
    }

    /// Its local metrics port (`/metrics` only): the gRPC port plus 100 (9100 → 9200).
    pub fn metrics_port(&self) -> u16 {
        self.grpc_port.saturating_add(100)
    }
}

impl std::fmt::Debug for ServiceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDef")
            .field("name", &self.name)
            .finish()
    }
}

/// The shared resources a service is built from.
#[derive(Clone)]
pub struct Ctx {
    pub name: &'static str,
    pub config: Arc<FleetConfig>,
    pub db: store::PgPool,
    pub redis: cache::Pool,
    pub producer: events::Producer,
    pub verifier: auth::Verifier,
    /// The token signer (present in the process that issues tokens).
    pub signer: Option<auth::Signer>,
    pub limiter: cache::RateLimiter,
    /// The service's own Redis key space (`<service>:…`): every key it writes goes under it.
    pub keys: cache::KeySpace,
    pub metrics: Metrics,
}

impl Ctx {
    /// The service's outgoing mail: SMTP when `SMTP_URL` is set, else the file mailbox
    /// (`FLEET_MAILBOX_DIR`), from `MAIL_FROM`.
    pub fn mailer(&self) -> anyhow::Result<Arc<dyn notify::Mailer>> {
        Ok(notify::mailer(
            self.config.get("SMTP_URL"),
            self.config
                .get("MAIL_FROM")
                .unwrap_or("Workflow <no-reply@workflow.local>"),
            self.config.mailbox_dir.clone(),
        )?)
    }
}

/// What a service serves.
pub struct Parts {
    /// Public REST routes with their OpenAPI description.
    pub router: OpenApiRouter,
    /// Internal gRPC services (health and reflection are added by the runtime).
    pub grpc: tonic::service::RoutesBuilder,
    pub consumers: Vec<events::ConsumerSpec>,
    pub jobs: Vec<Job>,
}

impl Parts {
    pub fn new(router: OpenApiRouter) -> Self {
        Parts {
            router,
            grpc: tonic::service::RoutesBuilder::default(),
            consumers: Vec::new(),
            jobs: Vec::new(),
        }
    }

    /// A service with no endpoints of its own yet.
    pub fn empty() -> Self {
        Parts::new(OpenApiRouter::new())
    }
}

/// The builder of a service that serves only the runtime's endpoints so far.
pub fn planned(_: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async { Ok(Parts::empty()) })
}
