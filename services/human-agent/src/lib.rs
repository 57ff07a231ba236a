//! human-agent (service 0.5): the people who supervise the AI — agent profiles with several
//! roles, skills, languages, capacity and presence; client assignment (manual, automatic, and
//! from `assisted_account_created`); the permissions lookup Kong calls; workload; the activity
//! log of every agent action.
//!
//! Handoffs (warm, standard, dual; accept moves the assignment, reject proposes the next agent;
//! an agent going offline passes its waiting ones on), the client timeline, and specialist
//! invitations (accept, complete with an outcome; 20 a day per agent, 5 active per client);
//! gRPC for peers (agent, permissions, assign); the AI supervision feed from monitoring and
//! conversation events. Presence and handoff queues are served from Redis, PostgreSQL being the
//! record (see `presence`).
//!
//! Modules, each using only those below it:
//!
//! | layer | modules |
//! |---|---|
//! | resources: routes, handlers, consumers | `agents`, `availability`, `permissions`, `assignments`, `handoffs`, `timeline`, `specialists`, `supervision`, `workload`, `grpc`, `admin` |
//! | what handlers share; settings | `state` (the database, limiter, org-auth client, presence), `settings` |
//! | handoff proposals and redistribution | `handover` |
//! | choosing agents, assignments under the capacity lock | `routing` |
//! | agent rows and their queries | `roster` |
//! | Redis presence and queues; the activity log's entry; agents as answers name them, mail; availability and performance figures | `presence`, `activity`, `people`, `notices`, `staffing` |
//! | pure foundations | `rules` (who may act, vocabularies, validated input, roles and permissions, capacity, lifecycle; unit-tested), `problems` (the catalogue) |
//!
//! Resources do not use one another; each owns its routes, and this file only declares the
//! service, merges them and starts the consumers and the presence reconciler.
use kit::{
    Ctx, Db, Parts,
    contracts::{
        events::topic,
        workflow::{
            human_agent::v1::human_agent_server::HumanAgentServer,
            org_auth::v1::org_auth_client::OrgAuthClient,
        },
    },
    events::ConsumerSpec,
    service::BoxFuture,
    utoipa_axum::router::OpenApiRouter,
};

mod activity;
pub mod admin;
mod agents;
mod assignments;
mod availability;
mod grpc;
mod handoffs;
mod handover;
mod notices;
mod people;
mod permissions;
mod presence;
mod problems;
mod roster;
mod routing;
mod rules;
mod settings;
mod specialists;
mod staffing;
mod state;
mod supervision;
mod timeline;
mod workload;

use settings::Settings;
use state::AppState;

kit::service! {
    name: "human-agent", number: "0.5",
    summary: "Human agents: roles, skills, capacity, presence, assignment, handoffs, specialists, supervision",
    status: Built, http: 8101, grpc: 9101, database: "human_agent",
    publishes: [topic::AGENT],
    consumes: [topic::AUTH, topic::MONITORING, topic::CONVERSATION],
    prefixes: ["/api/v1/agents"],
    problems: problems::ALL,
    // Kong's permissions lookup (deploy/kong, agent-permissions).
    callers: &[kit::Grant::http("kong", &["GET /api/v1/agents/{agent_id}/permissions"])],
    build: build,
}

/// Every resource's routes.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(agents::routes())
        .merge(availability::routes())
        .merge(permissions::routes())
        .merge(assignments::routes())
        .merge(handoffs::routes())
        .merge(specialists::routes())
        .merge(supervision::routes())
        .merge(timeline::routes())
        .merge(workload::routes())
}

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let settings = Settings::read(&ctx.config)?;
        let state = AppState {
            db: Db::new(ctx.db.clone(), SERVICE.name),
            limiter: ctx.limiter.clone(),
            org_auth: OrgAuthClient::new(kit::grpc::peer(&ctx.config, "ORG_AUTH_GRPC_URL", 9100)?),
            presence: presence::Presence::new(ctx.redis.clone(), ctx.config.redis_namespace()),
            mail: ctx.mailer()?,
        };
        let mut parts = Parts::new(routes().with_state(state.clone()));
        parts.grpc.add_service(HumanAgentServer::with_interceptor(
            grpc::Api(state.clone()),
            kit::grpc::InternalAuth::new(&ctx.config),
        ));
        parts.consumers.push(ConsumerSpec::new(
            "human-agent.assisted-accounts",
            &[topic::AUTH],
            assignments::AssistedAccounts(state.clone()),
        ));
        parts.consumers.push(ConsumerSpec::new(
            "human-agent.supervision",
            &[topic::MONITORING, topic::CONVERSATION],
            supervision::Feed,
        ));
        let (presence, db) = (state.presence.clone(), state.db.clone());
        parts.jobs.push(kit::Job::every(
            "presence-reconciler",
            settings.reconcile_every,
            move || {
                let (presence, db) = (presence.clone(), db.clone());
                async move {
                    presence
                        .reconcile(&db)
                        .await
                        .map_err(|e| e.context("presence not reconciled; routing reads the record"))
                }
            },
        ));
        Ok(parts)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_schema_the_openapi_document_refers_to_is_in_it() {
        let (_, api) = super::routes().split_for_parts();
        let doc = serde_json::to_string(&api).expect("serialises");
        let schemas = api.components.expect("components").schemas;
        for part in doc.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(
                schemas.contains_key(name),
                "{name} is referred to but not defined"
            );
        }
    }
}
