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
//! email.
use std::sync::Arc;

use kit::{
    Ctx, Parts,
    auth::{JwkSet, Signer},
    cache::RateLimiter,
    service::BoxFuture,
    store::PgPool,
    utoipa_axum::{router::OpenApiRouter, routes},
};

pub mod admin;
mod assisted;
mod audit;
mod auth_routes;
mod grpc;
mod mail;
mod mfa;
mod oauth;

/// RFC 4226 HOTP, for clients and tests computing TOTP codes.
pub use mfa::hotp;

/// The Argon2id hash of a password at the service's parameters (benchmarks compare logins with it).
pub use security::hash_password;
mod org_routes;
mod security;
mod sessions;

kit::service! {
    name: "org-auth", number: "0",
    summary: "Identity, organisations, memberships, invitations, OAuth, MFA, sessions, audit log, assisted signup and claim",
    status: Partial, http: 8100, grpc: 9100, database: "org_auth",
    publishes: ["auth_events", "org_events"],
    consumes: [],
    prefixes: ["/api/v1/auth", "/api/v1/organizations", "/api/v1/invitations", "/.well-known"],
    build: build,
}

/// Everything the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub db: PgPool,
    pub signer: Signer,
    pub jwks: Arc<JwkSet>,
    pub limiter: RateLimiter,
    pub mailer: Arc<dyn notify::Mailer>,
    /// Base of links in emails and responses (`https://app.workflow.com`).
    pub app_url: String,
    /// Seals TOTP secrets at rest.
    pub mfa: Arc<mfa::SecretBox>,
    pub oauth: Arc<oauth::OAuth>,
}

impl AppState {
    /// Sends after the transaction committed; a failed send is logged, not fatal (codes and
    /// links can be requested again).
    pub async fn send(&self, email: notify::Email) -> bool {
        match self.mailer.send(&email).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, subject = %email.subject, "sending email failed");
                false
            }
        }
    }
}

pub(crate) const SOURCE: &str = "org-auth";

pub(crate) use kit::{now_rfc3339, rfc3339};

fn build(ctx: Ctx) -> BoxFuture<anyhow::Result<Parts>> {
    Box::pin(async move {
        let signer: Signer = ctx
            .signer
            .clone()
            .ok_or_else(|| anyhow::anyhow!("org-auth issues tokens and needs a signing key"))?;
        let mailer = notify::mailer(
            ctx.config.get("SMTP_URL"),
            ctx.config
                .get("MAIL_FROM")
                .unwrap_or("Workflow <no-reply@workflow.local>"),
            ctx.config.mailbox_dir.clone(),
        )?;
        let app_url = ctx
            .config
            .require("APP_BASE_URL", Some("http://localhost:3000"))?
            .trim_end_matches('/')
            .to_string();
        let mfa_key = match ctx.config.get("ORG_AUTH_MFA_KEY") {
            Some(k) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(k.trim())
                    .map_err(|_| anyhow::anyhow!("ORG_AUTH_MFA_KEY must be base64 of 32 bytes"))?
            }
            None if ctx.config.is_dev() => {
                tracing::warn!(
                    "development mode: no ORG_AUTH_MFA_KEY, MFA enrolments last until restart"
                );
                let mut k = vec![0u8; 32];
                getrandom::fill(&mut k)?;
                k
            }
            None => anyhow::bail!(
                "configuration: ORG_AUTH_MFA_KEY (base64, 32 bytes) is required in production"
            ),
        };
        let oauth = Arc::new(oauth::OAuth::new(&ctx.config, &app_url)?);
        let state = AppState {
            oauth,
            mfa: Arc::new(
                mfa::SecretBox::new(&mfa_key).map_err(|p| anyhow::anyhow!("{}", p.detail()))?,
            ),
            db: ctx.db.clone(),
            jwks: Arc::new(signer.jwks()),
            signer,
            limiter: ctx.limiter.clone(),
            mailer,
            app_url,
        };
        let router = OpenApiRouter::new()
            .routes(routes!(auth_routes::jwks))
            .routes(routes!(auth_routes::signup))
            .routes(routes!(auth_routes::verify_email))
            .routes(routes!(auth_routes::login))
            .routes(routes!(auth_routes::login_mfa))
            .routes(routes!(oauth::authorize))
            .routes(routes!(oauth::callback))
            .routes(routes!(mfa::enroll))
            .routes(routes!(mfa::confirm))
            .routes(routes!(mfa::disable))
            .routes(routes!(mfa::regenerate))
            .routes(routes!(auth_routes::refresh))
            .routes(routes!(auth_routes::logout))
            .routes(routes!(auth_routes::me))
            .routes(routes!(auth_routes::password_reset))
            .routes(routes!(auth_routes::password_reset_confirm))
            .routes(routes!(org_routes::create_organization))
            .routes(routes!(
                org_routes::get_organization,
                org_routes::update_organization
            ))
            .routes(routes!(org_routes::create_invitation))
            .routes(routes!(org_routes::accept_invitation))
            .routes(routes!(org_routes::list_members))
            .routes(routes!(
                org_routes::update_member,
                org_routes::remove_member
            ))
            .routes(routes!(org_routes::audit_logs))
            .routes(routes!(org_routes::unlock_member))
            .routes(routes!(assisted::assisted_signup))
            .routes(routes!(assisted::list_assisted))
            .routes(routes!(assisted::get_assisted))
            .routes(routes!(assisted::claim_account))
            .routes(routes!(assisted::resend_claim))
            .routes(routes!(assisted::grant_access))
            .with_state(state.clone());
        let mut parts = Parts::new(router);
        parts.grpc.add_service(
            kit::contracts::workflow::org_auth::v1::org_auth_server::OrgAuthServer::with_interceptor(
                grpc::Api(state.clone()),
                kit::grpc::InternalAuth::new(&ctx.config),
            ),
        );
        let every = std::time::Duration::from_secs(
            ctx.config
                .get("ORG_AUTH_EXPIRY_SWEEP_SECS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(60),
        );
        parts.jobs.push(kit::Job::new(
            "assisted-account-expiry",
            move |stop| async move {
                loop {
                    if let Err(e) = assisted::expiry_sweep(&state).await {
                        tracing::warn!(error = %e, "assisted account expiry sweep failed");
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
            },
        ));
        Ok(parts)
    })
}
