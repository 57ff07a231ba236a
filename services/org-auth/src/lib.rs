//! org-auth (service 0): the platform's identity — users (clients and human agents),
//! organisations, memberships, invitations, sessions, password resets and the audit log.
//!
//! Built: signup with work email and a verification code, email verification, login with
//! lockout, rotating refresh tokens with reuse detection, logout, `/auth/me`, password reset,
//! organisations (create, read, settings), invitations, members (list, role change, removal
//! with session revocation), the audit log with CSV/JSON export, the JWKS, and assisted
//! accounts (create, list, read, claim, resend, temporary access, the reminder/expiry job).
//! gRPC for peers: users, organisations, memberships, agent logins; TOTP MFA with recovery
//! codes; OAuth sign-in (Google, Microsoft, GitHub) with PKCE and account linking by verified
//! email. Sessions and temporary-access grants are revoked fleet-wide (`revocation_events`);
//! agents' role sets arrive from human-agent (`agent_events`).
//!
//! Layout: one module per resource, each with its routes (`signup`, `sessions`, `oauth`,
//! `mfa`, `organizations`, `invitations`, `members`, `audit_log`, `assisted`); what they share
//! in `rules` (pure), `problems`, `audit`, `mail`, `security`, `limits`, `access`, `activity`,
//! `revocations` and `accounts`; `agent_roles` consumes; `grpc` for peers, `admin` for
//! operators. This file only assembles.
use std::sync::Arc;

use kit::{
    Ctx, Db, Job, Parts,
    auth::{JwkSet, Signer},
    cache::RateLimiter,
    contracts::events::topic,
    events::ConsumerSpec,
    service::BoxFuture,
    utoipa_axum::router::OpenApiRouter,
};

mod access;
mod accounts;
mod activity;
pub mod admin;
mod agent_roles;
mod assignments;
mod assisted;
mod audit;
mod audit_log;
mod grpc;
mod invitations;
mod limits;
mod mail;
mod members;
mod mfa;
mod oauth;
mod organizations;
pub mod problems;
mod revocations;
mod rules;
mod security;
mod sessions;
mod settings;
mod signup;
mod users;

/// RFC 4226 HOTP, for clients and tests computing TOTP codes.
pub use mfa::{base32_decode, hotp, totp_code};

/// The Argon2id hash of a password at the service's parameters (benchmarks compare logins with it).
pub use security::hash_password;

kit::service! {
    name: "org-auth", number: "0",
    summary: "Identity, organisations, memberships, invitations, OAuth, MFA, sessions, audit log, assisted signup and claim",
    status: Partial, http: 8100, grpc: 9100, database: "org_auth",
    publishes: [topic::AUTH, topic::ORG, topic::REVOCATION],
    consumes: [topic::AGENT],
    prefixes: ["/api/v1/auth", "/api/v1/organizations", "/api/v1/invitations", "/.well-known"],
    capabilities: kit::Capabilities::TOKEN_ISSUER,
    problems: problems::ALL,
    // human-agent creates agents' logins and reads users (ARCHITECTURE §7).
    callers: &[kit::Grant::grpc("human-agent", &[
        "/workflow.org_auth.v1.OrgAuth/CreateAgentUser",
        "/workflow.org_auth.v1.OrgAuth/GetUser",
    ])],
    build: build,
}

/// Everything the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub db: Db,
    pub signer: Signer,
    pub jwks: Arc<JwkSet>,
    pub limiter: RateLimiter,
    pub mail: mail::Mail,
    /// Base of links in emails and responses (`https://app.workflow.com`).
    pub app_url: String,
    /// Seals TOTP secrets at rest.
    pub mfa: Arc<mfa::SecretBox>,
    pub oauth: Arc<oauth::OAuth>,
    /// Members' last activity, noted on reads and written by a job.
    pub activity: activity::Activity,
    /// Revoking sessions: their refresh tokens and, fleet-wide, their access tokens.
    pub revoking: revocations::Revoking,
    /// Platform-admin approval of assisted accounts (`ORG_AUTH_ASSISTED_APPROVAL`).
    pub approvals: assisted::Approvals,
}

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let settings = settings::Settings::read(&ctx.config)?;
        security::bound_hashing(settings.hashing);
        let signer: Signer = ctx
            .signer
            .clone()
            .ok_or_else(|| anyhow::anyhow!("org-auth issues tokens and needs a signing key"))?;
        let mailer = ctx.mailer()?;
        let mfa_key = settings::mfa_key(&ctx.config)?;
        let oauth = Arc::new(oauth::OAuth::new(&ctx.config, &settings.app_url)?);
        let access_ttl = i64::try_from(signer.ttl().as_secs()).unwrap_or(900);
        let state = AppState {
            oauth,
            mfa: Arc::new(
                mfa::SecretBox::new(&mfa_key).map_err(|p| anyhow::anyhow!("{}", p.detail()))?,
            ),
            db: Db::new(ctx.db.clone(), SERVICE.name),
            jwks: Arc::new(signer.jwks()),
            signer,
            limiter: ctx.limiter.clone(),
            mail: mail::Mail::new(mailer),
            app_url: settings.app_url.clone(),
            activity: activity::Activity::default(),
            revoking: revocations::Revoking {
                access_ttl_secs: access_ttl,
                local: ctx.verifier.revoked().clone(),
            },
            approvals: assisted::Approvals::new(settings.assisted_approval),
        };
        let router = OpenApiRouter::new()
            .merge(sessions::routes())
            .merge(signup::routes())
            .merge(oauth::routes())
            .merge(mfa::routes())
            .merge(organizations::routes())
            .merge(invitations::routes())
            .merge(members::routes())
            .merge(audit_log::routes())
            .merge(assisted::routes())
            .merge(users::routes())
            .with_state(state.clone());
        let mut parts = Parts::new(router);
        parts.grpc.add_service(
            kit::contracts::workflow::org_auth::v1::org_auth_server::OrgAuthServer::with_interceptor(
                grpc::Api(state.clone()),
                kit::grpc::InternalAuth::new(&ctx.config),
            ),
        );
        // Agents' role sets, which human-agent owns, for the tokens issued here.
        parts.consumers.push(ConsumerSpec::new(
            "org-auth.agent-roles",
            &[topic::AGENT],
            agent_roles::AgentRoles(state.db.clone(), state.revoking.clone()),
        ));
        // Which clients are assigned to which agent, for the agents' view of assisted accounts.
        parts.consumers.push(ConsumerSpec::new(
            "org-auth.agent-assignments",
            &[topic::AGENT],
            assignments::Assignments(state.db.clone()),
        ));
        parts.jobs = jobs(&state, &settings);
        Ok(parts)
    })
}

/// The periodic work: members' noted activity written, unclaimed assisted accounts reminded
/// and expired, audit entries past their retention deleted.
fn jobs(state: &AppState, settings: &settings::Settings) -> Vec<Job> {
    let s = state.clone();
    let activity = Job::every("member-activity", settings.activity_flush, move || {
        let s = s.clone();
        async move {
            s.activity.flush(&s.db).await?;
            anyhow::Ok(())
        }
    });
    let s = state.clone();
    let expiry = Job::every(
        "assisted-account-expiry",
        settings.expiry_sweep,
        move || {
            let s = s.clone();
            async move {
                assisted::expiry_sweep(&s).await?;
                anyhow::Ok(())
            }
        },
    );
    let db = state.db.clone();
    let days = settings.audit_retention_days;
    let retention = Job::every(
        "audit-retention",
        settings.audit_retention_sweep,
        move || {
            let db = db.clone();
            async move {
                audit_log::retention::purge(&db, days).await?;
                anyhow::Ok(())
            }
        },
    );
    vec![activity, expiry, retention]
}
