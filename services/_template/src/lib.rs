//! The reference service: what a new service copies. It keeps notes for an organisation — one
//! resource module with its routes (`notes`), a consumer (`welcome`: a note for every new
//! organisation), a periodic job (`archive`), its audit trail (`audit`), its problem catalogue
//! (`problems`), pure rules with unit tests (`rules`) and typed settings read once at start
//! (`settings`). Its tests (`tests/it/`) are split by feature and run the checks every service
//! runs: forced row-level security and the cross-tenant probe driven by its OpenAPI document.
//!
//! Layering: `rules`, `problems`, `settings` depend on nothing; `audit` on the kit; `notes`,
//! `welcome` and `archive` on those; `lib.rs` only assembles.
//!
//! It is served by its tests (`testkit::spawn(&SERVICE)`), not by the fleet: it is a pattern,
//! not a product service. `docs/adding-a-service.md` walks through copying it.
use kit::{
    Ctx, Db, Job, Parts, contracts::events::topic, events::ConsumerSpec, service::BoxFuture,
    utoipa_axum::router::OpenApiRouter,
};

mod archive;
mod audit;
mod notes;
pub mod problems;
pub mod rules;
pub mod settings;
mod welcome;

kit::service! {
    name: "service-template", number: "-",
    summary: "The reference service: notes per organisation",
    status: Built, http: 8199, grpc: 9199, database: "service_template",
    publishes: [topic::TEMPLATE],
    consumes: [topic::ORG],
    prefixes: ["/api/v1/notes"],
    problems: problems::ALL,
    build: build,
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub db: Db,
}

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let settings = settings::Settings::read(&ctx.config)?;
        let state = AppState {
            db: Db::new(ctx.db.clone(), SERVICE.name),
        };
        let router = OpenApiRouter::new()
            .merge(notes::routes())
            .with_state(state.clone());
        let mut parts = Parts::new(router);
        parts.consumers.push(ConsumerSpec::new(
            "service-template.welcome",
            &[topic::ORG],
            welcome::Welcome,
        ));
        let db = state.db.clone();
        parts.jobs.push(Job::every(
            "archive-done-notes",
            settings.archive_every,
            move || archive::run(db.clone(), settings.archive_after),
        ));
        Ok(parts)
    })
}
