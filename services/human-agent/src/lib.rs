//! human-agent (service 0.5): the people who supervise the AI — agent profiles with several
//! roles, skills, languages, capacity and presence; client assignment (manual, automatic, and
//! from `assisted_account_created`); the permissions lookup Kong calls; workload; the activity
//! log of every agent action.
//!
//! Handoffs (warm, standard, dual; accept moves the assignment, reject proposes the next agent;
//! an agent going offline passes its waiting ones on), the client timeline, and specialist invitations (accept, complete with an outcome; 20 a day
//! per agent, 5 active per client); gRPC for peers (agent, permissions, assign); the AI
//! supervision feed from monitoring and conversation events. Presence and handoff queues are
//! served from Redis, PostgreSQL being the record (see `presence`).
use std::sync::Arc;

use kit::{
    Ctx, Parts,
    cache::RateLimiter,
    contracts::workflow::org_auth::v1::org_auth_client::OrgAuthClient,
    events::ConsumerSpec,
    service::BoxFuture,
    store::PgPool,
    tonic::transport::Channel,
    utoipa_axum::{router::OpenApiRouter, routes},
};

mod activity;
pub mod admin;
mod agents;
mod assign;
mod grpc;
mod handoffs;
mod presence;
mod specialists;
mod supervision;

kit::service! {
    name: "human-agent", number: "0.5",
    summary: "Human agents: roles, skills, capacity, presence, assignment, handoffs, specialists, supervision",
    status: Built, http: 8101, grpc: 9101, database: "human_agent",
    publishes: ["agent_events"],
    consumes: ["auth_events", "monitoring_events", "conversation_events"],
    prefixes: ["/api/v1/agents"],
    build: build,
}

pub(crate) const SOURCE: &str = "human-agent";

#[derive(Clone)]
pub(crate) struct AppState {
    pub db: PgPool,
    pub limiter: RateLimiter,
    /// org-auth's gRPC API (agent logins), with the internal credential.
    pub org_auth: OrgAuthClient<Channel>,
    pub internal_token: Option<Arc<String>>,
    /// Presence, handoff queues and cached permissions in Redis.
    pub presence: presence::Presence,
}

pub(crate) use kit::{now_rfc3339, rfc3339};

/// A decision's `action`: `accept` (true) or `reject` (false).
pub(crate) fn accepts(action: &str) -> Result<bool, kit::Problem> {
    match action {
        "accept" => Ok(true),
        "reject" => Ok(false),
        _ => Err(kit::Problem::invalid("action", "must be accept or reject")),
    }
}

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let url = ctx.config.require(
            "ORG_AUTH_GRPC_URL",
            Some(&format!(
                "http://127.0.0.1:{}",
                9100 + ctx.config.port_offset
            )),
        )?;
        // Connected lazily: human-agent starts (and reports ready) before org-auth does.
        let channel = Channel::from_shared(url)?.connect_lazy();
        let state = AppState {
            db: ctx.db.clone(),
            limiter: ctx.limiter.clone(),
            org_auth: OrgAuthClient::new(channel),
            internal_token: ctx.config.internal_token.clone().map(Arc::new),
            presence: presence::Presence::new(ctx.redis.clone(), ctx.config.redis_namespace()),
        };
        let router = OpenApiRouter::new()
            .routes(routes!(agents::register))
            .routes(routes!(agents::available))
            .routes(routes!(agents::get_agent, agents::update_agent))
            .routes(routes!(agents::permissions))
            .routes(routes!(agents::availability))
            .routes(routes!(agents::workload))
            .routes(routes!(agents::activity))
            .routes(routes!(assign::create_assignment))
            .routes(routes!(handoffs::initiate))
            .routes(routes!(handoffs::decide))
            .routes(routes!(handoffs::timeline))
            .routes(routes!(specialists::invite))
            .routes(routes!(specialists::respond))
            .routes(routes!(specialists::complete))
            .routes(routes!(supervision::ai_activity))
            .with_state(state.clone());
        let mut parts = Parts::new(router);
        parts.grpc.add_service(
            kit::contracts::workflow::human_agent::v1::human_agent_server::HumanAgentServer::with_interceptor(
                grpc::Api(state.clone()),
                kit::grpc::InternalAuth::new(&ctx.config),
            ),
        );
        parts.consumers.push(ConsumerSpec::new(
            "human-agent.assisted-accounts",
            &["auth_events"],
            assign::AssistedAccounts(state.presence.clone()),
        ));
        parts.consumers.push(ConsumerSpec::new(
            "human-agent.supervision",
            &["monitoring_events", "conversation_events"],
            supervision::Feed,
        ));
        let every = match ctx.config.get("HUMAN_AGENT_PRESENCE_RECONCILE_SECS") {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "HUMAN_AGENT_PRESENCE_RECONCILE_SECS must be a positive number of seconds"
                    )
                })?,
            None => presence::RECONCILE_EVERY,
        };
        let (presence, db) = (state.presence.clone(), state.db.clone());
        parts.jobs.push(kit::Job::new("presence-reconciler", move |stop| async move {
            loop {
                if let Err(e) = presence.reconcile(&db).await {
                    tracing::warn!(error = %e, "presence not reconciled; routing reads the record");
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
            }
        }));
        Ok(parts)
    })
}
