//! The service kit: everything a fleet service needs to run — typed configuration, the HTTP
//! (axum) and gRPC (tonic) servers with health, readiness, metrics, OpenAPI, tracing and
//! correlation ids, graceful shutdown, and the problem+json error type.
//!
//! A service crate exports a [`ServiceDef`]; the `fleet` binary and the tests start it with
//! [`runtime`].
pub mod config;
pub mod credentials;
pub mod grpc;
pub mod http;
pub mod input;
pub mod job;
pub mod metrics;
pub mod openapi;
pub mod readiness;
pub mod revocation;
pub mod runtime;
pub mod service;
pub mod telemetry;
pub mod time;
pub mod uow;

pub use config::{FleetConfig, Mode};
pub use http::{ClientIp, InternalCaller, Json, UserAgent};
pub use input::Query;
pub use job::Job;
pub use problem::{FieldError, Problem, ProblemBody, ProblemType};
pub use service::{Capabilities, Ctx, Grant, Parts, ServiceDef, Status, planned};
pub use time::Timestamp;
pub use uow::{Actor, Audit, AuditContext, Db, Origin, Uow};

/// A time as RFC 3339 text, the form of every time in API responses and event payloads.
pub fn rfc3339(t: ::time::OffsetDateTime) -> String {
    t.format(&::time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Now, as RFC 3339 text.
pub fn now_rfc3339() -> String {
    rfc3339(::time::OffsetDateTime::now_utc())
}

// The libraries services build on, re-exported so a service depends on the kit alone.
pub use {auth, cache, contracts, events, store};
pub use {axum, sqlx, tonic, utoipa, utoipa_axum};

/// Defines a service's `SERVICE` from its table row (ARCHITECTURE §3) and its builder.
/// Topics are `kit::contracts::events::topic` constants; `capabilities`, `problems` and
/// `callers` are optional (none, the kit's common problem types only, no internal caller).
#[macro_export]
macro_rules! service {
    (
        name: $name:literal, number: $number:literal, summary: $summary:literal,
        status: $status:ident, http: $http:literal, grpc: $grpc:literal, database: $db:literal,
        publishes: [$($pub_:expr),* $(,)?], consumes: [$($con:expr),* $(,)?],
        prefixes: [$($pre:literal),* $(,)?],
        $(capabilities: $caps:expr,)?
        $(problems: $problems:expr,)?
        $(seed: $seed:expr,)?
        $(callers: $callers:expr,)?
        build: $build:expr $(,)?
    ) => {
        static MIGRATIONS: $crate::sqlx::migrate::Migrator = $crate::sqlx::migrate!("./migrations");

        /// This service, for the `fleet` binary and tests.
        pub static SERVICE: $crate::ServiceDef = $crate::ServiceDef {
            name: $name,
            number: $number,
            summary: $summary,
            status: $crate::Status::$status,
            http_port: $http,
            grpc_port: $grpc,
            database: $db,
            publishes: &[$($pub_),*],
            consumes: &[$($con),*],
            public_prefixes: &[$($pre),*],
            migrations: &MIGRATIONS,
            capabilities: $crate::service!(@caps $($caps)?),
            problems: $crate::service!(@problems $($problems)?),
            seed: $crate::service!(@seed $($seed)?),
            callers: $crate::service!(@callers $($callers)?),
            build: $build,
        };
    };
    (@caps) => { $crate::Capabilities::NONE };
    (@caps $caps:expr) => { $caps };
    (@problems) => { &[] };
    (@problems $p:expr) => { $p };
    (@callers) => { &[] };
    (@callers $c:expr) => { $c };
    (@seed) => { None };
    (@seed $s:expr) => { Some($s) };
}
