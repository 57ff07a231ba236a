//! config (service 10): versioned, schema-validated configuration documents in layers
//! (platform defaults → tier → tenant → environment) with an effective view that names the
//! source of every value, feature flags evaluated with Unleash's bucketing, and the change
//! stream every service's config client follows (`libs/config-client`).
//!
//! | layer | modules |
//! |---|---|
//! | names, parsing, rules | `names`, `yaml`, `slot`, `problems`, `etag` (and the shared domain in `config_client`) |
//! | tables | `rows` (documents, versions, checks, the change log), `audit` |
//! | resources | `documents`, `schedules` (changes that take effect later), `schemas`, `flags`, `grpc`, `changes` (the Watch stream's source) |
//! | jobs | `schedules::apply` (due scheduled changes, every `CONFIG_SCHEDULES_EVERY_SECS`, 2 s) |
//! | data shipped | `seed` (`defaults/`, `schemas/`), run by `fleet migrate` |
use std::time::Duration;

use kit::{
    Ctx, Db, Job, Parts, contracts::events::topic,
    contracts::workflow::config::v1::config_server::ConfigServer, service::BoxFuture,
    utoipa_axum::router::OpenApiRouter,
};

mod audit;
mod changes;
mod documents;
mod etag;
mod flags;
mod grpc;
pub mod names;
pub mod problems;
mod rows;
mod schedules;
mod schemas;
pub mod seed;
mod slot;
pub mod yaml;

kit::service! {
    name: "config", number: "10",
    summary: "Configuration documents, schemas, per-tenant overrides, feature flags, change streams",
    status: Partial, http: 8110, grpc: 9110, database: "config",
    publishes: [topic::CONFIG],
    consumes: [],
    prefixes: ["/api/v1/configs", "/api/v1/schemas", "/api/v1/flags"],
    problems: problems::ALL,
    seed: seed::run,
    callers: grpc::CALLERS,
    build: build,
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub db: Db,
    pub hub: changes::Hub,
}

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let db = Db::new(ctx.db.clone(), SERVICE.name);
        let every = ctx
            .config
            .secs_or("CONFIG_SCHEDULES_EVERY_SECS", Duration::from_secs(2))?;
        let state = AppState {
            hub: changes::Hub::start(&db),
            db,
        };
        let router = OpenApiRouter::new()
            .merge(documents::routes())
            .merge(schedules::routes())
            .merge(schemas::routes())
            .merge(flags::routes())
            .with_state(state.clone());
        let mut parts = Parts::new(router);
        let jobs_db = state.db.clone();
        parts
            .jobs
            .push(Job::every("apply-scheduled-changes", every, move || {
                schedules::apply::run(jobs_db.clone())
            }));
        parts.grpc.add_service(ConfigServer::with_interceptor(
            grpc::Api(state),
            kit::grpc::InternalAuth::new(&ctx.config),
        ));
        Ok(parts)
    })
}
