//! Public identity endpoints under `/api/v1/auth` and the JWKS.
use axum::{extract::State, http::StatusCode, http::header, response::IntoResponse};
use kit::{
    ClientIp, Json, Problem, UserAgent,
    auth::{Principal, UserType},
    cache::{Limit, Subject},
    contracts::events::v1,
    store::{self, Scope, outbox},
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState, SOURCE,
    audit::{self, Entry, Origin},
    mail, now_rfc3339, rfc3339, security,
    sessions::{self, OrgMembership, Presented, Tokens},
};

/// Failed logins before the account locks, and for how long.
const LOCK_AFTER: i32 = 5;
const LOCK_FOR: Duration = Duration::minutes(15);
const CODE_TTL: Duration = Duration::hours(24);
const CODE_ATTEMPTS: i32 = 5;
const RESET_TTL: Duration = Duration::hours(1);
/// The same answer for an unknown email, a wrong password and a locked account.
const BAD_LOGIN: &str = "email or password is incorrect, or the account is temporarily locked";

/// The public keys that verify access tokens (RS256, selected by `kid`).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JWK set", content_type = "application/json")))]
pub async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    (
        // Verifiers cache it and refetch on an unknown kid; a short max-age keeps rotation quick.
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(s.jwks.as_ref().clone()),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// A work email; free-mail and disposable domains are refused.
    pub email: String,
    pub password: String,
    pub full_name: String,
    pub company_name: String,
    #[serde(default)]
    pub role_in_company: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub user_id: Uuid,
    pub email: String,
    pub verification_status: &'static str,
    pub verification_email_sent: bool,
    pub message: &'static str,
    /// When the verification code expires.
    pub expires_at: String,
}

/// Sign up with a work email; a 6-character code is mailed to verify it.
///
/// The answer is the same whether or not the address already has an account (the owner of an
/// existing account is told by email instead), so the endpoint cannot be used to probe emails.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 422, body = kit::ProblemBody),
              (status = 429, body = kit::ProblemBody)))]
pub async fn signup(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<SignupRequest>,
) -> Result<(StatusCode, Json<SignupResponse>), Problem> {
    s.limiter
        .enforce("signup", Subject::Ip(&ip.0), Limit::per_hour(10))
        .await?;
    let email = security::require_work_email("email", &req.email)?;
    let full_name = security::text("full_name", &req.full_name, 1, 200)?;
    let company = security::text("company_name", &req.company_name, 2, 100)?;
    let role_in_company =
        security::opt_text("role_in_company", req.role_in_company.as_deref(), 100)?;
    security::check_password("password", &req.password, &email)?;
    let hash = security::hash_password(req.password).await?;
    let origin = Origin::new(ip, ua);
    let expires = OffsetDateTime::now_utc() + CODE_TTL;
    let respond = |user_id, sent| {
        (
            StatusCode::CREATED,
            Json(SignupResponse {
                user_id,
                email: email.clone(),
                verification_status: "pending",
                verification_email_sent: sent,
                message: "Please check your email to verify your account",
                expires_at: rfc3339(expires),
            }),
        )
    };

    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let existing = sessions::load_user_by_email(&mut tx, &email).await?;
    let user_id = match existing {
        Some(u) if u.email_verified || u.account_status != "active" => {
            audit::record(
                &mut tx,
                &origin,
                Entry::new("signup_existing_email").user(u.id),
            )
            .await?;
            tx.commit().await.map_err(Problem::from)?;
            let sent = s.send(mail::already_registered(&email, &s.app_url)).await;
            // A fresh id that leads nowhere: the response must look like a new signup's.
            return Ok(respond(Uuid::now_v7(), sent));
        }
        Some(u) => {
            // Not verified yet: whoever controls the mailbox finishes this signup.
            sqlx::query(
                "UPDATE users SET password_hash = $2, full_name = $3, role_in_company = $4, updated_at = now() WHERE id = $1",
            )
            .bind(u.id)
            .bind(&hash)
            .bind(&full_name)
            .bind(&role_in_company)
            .execute(&mut *tx)
            .await?;
            u.id
        }
        None => {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, full_name, user_type, role, role_in_company) \
                 VALUES ($1, $2, $3, $4, 'client', 'member', $5)",
            )
            .bind(id)
            .bind(&email)
            .bind(&hash)
            .bind(&full_name)
            .bind(&role_in_company)
            .execute(&mut *tx)
            .await?;
            outbox::publish(
                &mut tx,
                SOURCE,
                Uuid::nil(),
                id,
                &v1::UserSignedUp {
                    user_id: id.to_string(),
                    email: email.clone(),
                    company_name: company.clone(),
                    timestamp: now_rfc3339(),
                },
            )
            .await?;
            id
        }
    };
    let code = security::verification_code();
    sqlx::query(
        "INSERT INTO email_verifications (user_id, code_hash, attempts, expires_at) VALUES ($1, $2, 0, $3) \
         ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, attempts = 0, \
         expires_at = EXCLUDED.expires_at, created_at = now()",
    )
    .bind(user_id)
    .bind(security::digest(&format!("{user_id}:{code}")))
    .bind(expires)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &origin,
        Entry::new("signup")
            .user(user_id)
            .meta(serde_json::json!({"company_name": company})),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    let sent = s
        .send(mail::verification_code(&email, &full_name, &code))
        .await;
    Ok(respond(user_id, sent))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    pub email: String,
    /// The 6-character code from the email, e.g. `ABC123`.
    pub verification_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyEmailResponse {
    pub user_id: Uuid,
    pub email_verified: bool,
    #[serde(flatten)]
    pub tokens: Tokens,
    /// `create_organization` for a new user, `dashboard` when it already has one.
    pub next_step: &'static str,
}

/// Verify the email address with the mailed code; returns tokens.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 200, body = VerifyEmailResponse), (status = 400, body = kit::ProblemBody)))]
pub async fn verify_email(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<VerifyEmailRequest>,
) -> Result<Json<VerifyEmailResponse>, Problem> {
    let email = security::normalise_email("email", &req.email)?;
    s.limiter
        .enforce("verify-email", Subject::Key(&email), Limit::per_hour(5))
        .await?;
    let code = req.verification_code.trim().to_ascii_uppercase();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Problem::invalid(
            "verification_code",
            "must be 6 letters and digits",
        ));
    }
    let invalid = || {
        Problem::bad_request(
            "the code is invalid or has expired; request a new one by signing up again",
        )
    };
    let origin = Origin::new(ip, ua);
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let user = sessions::load_user_by_email(&mut tx, &email)
        .await?
        .ok_or_else(invalid)?;
    let row = sqlx::query(
        "SELECT code_hash, attempts, expires_at FROM email_verifications WHERE user_id = $1 FOR UPDATE",
    )
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    let (hash, attempts, expires): (String, i32, OffsetDateTime) =
        (row.get(0), row.get(1), row.get(2));
    if attempts >= CODE_ATTEMPTS || expires <= OffsetDateTime::now_utc() {
        return Err(invalid());
    }
    if hash != security::digest(&format!("{}:{code}", user.id)) {
        sqlx::query("UPDATE email_verifications SET attempts = attempts + 1 WHERE user_id = $1")
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            &origin,
            Entry::new("email_verification_failed").user(user.id),
        )
        .await?;
        tx.commit().await.map_err(Problem::from)?;
        return Err(invalid());
    }
    sqlx::query("UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM email_verifications WHERE user_id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    let orgs = sessions::memberships(&mut tx, user.id).await?;
    let org = sessions::pick_org(&orgs, None, user.organization_id);
    let tokens = sessions::issue(&mut tx, &s, &user, org, None, &origin).await?;
    audit::record(&mut tx, &origin, Entry::new("email_verified").user(user.id)).await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(VerifyEmailResponse {
        user_id: user.id,
        email_verified: true,
        tokens,
        next_step: if orgs.is_empty() {
            "create_organization"
        } else {
            "dashboard"
        },
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The organisation to act in (default: the primary one).
    #[serde(default)]
    pub organization_id: Option<Uuid>,
}

/// The second step a login with MFA still needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequired {
    pub mfa_required: bool,
    /// Present with the code to `POST /api/v1/auth/login/mfa` within 5 minutes.
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
}

/// Tokens, or the MFA step when the account has MFA on.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginOutcome {
    Signed(LoginResponse),
    Mfa(MfaRequired),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub user_id: Uuid,
    pub email: String,
    /// The organisation the access token acts in.
    pub organization_id: Option<Uuid>,
    pub organizations: Vec<OrgMembership>,
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// Sign in with email and password. Five failures (passwords or MFA codes) lock the account
/// for 15 minutes. With MFA on, the answer is the MFA step instead of tokens.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginOutcome), (status = 401, body = kit::ProblemBody),
              (status = 429, body = kit::ProblemBody)))]
pub async fn login(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginOutcome>, Problem> {
    s.limiter
        .enforce("login", Subject::Ip(&ip.0), Limit::per_hour(20))
        .await?;
    let email = security::normalise_email("email", &req.email)?;
    if req.password.len() > 1024 {
        return Err(Problem::invalid("password", "is too long"));
    }
    let origin = Origin::new(ip, ua);
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let user = sessions::load_user_by_email(&mut tx, &email).await?;
    let now = OffsetDateTime::now_utc();
    let locked = user
        .as_ref()
        .is_some_and(|u| u.locked_until.is_some_and(|t| t > now));
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .filter(|_| !locked);
    let ok = security::verify_password(req.password, hash).await;
    let Some(user) = user.filter(|_| ok) else {
        record_failure(&mut tx, &origin, &email, locked).await?;
        tx.commit().await.map_err(Problem::from)?;
        return Err(Problem::unauthorized(BAD_LOGIN));
    };
    if !matches!(user.account_status.as_str(), "active" | "claimed") {
        return Err(Problem::forbidden(format!(
            "the account is {}",
            user.account_status
        )));
    }
    if !user.email_verified {
        return Err(Problem::forbidden("verify your email address first"));
    }
    if user.mfa_enabled {
        let token = crate::mfa::challenge(&mut tx, user.id, req.organization_id).await?;
        audit::record(
            &mut tx,
            &origin,
            Entry::new("login_mfa_challenged").user(user.id),
        )
        .await?;
        tx.commit().await.map_err(Problem::from)?;
        return Ok(Json(LoginOutcome::Mfa(MfaRequired {
            mfa_required: true,
            mfa_token: token,
            methods: vec!["totp", "recovery_code"],
        })));
    }
    let done = complete_login(&mut tx, &s, user, req.organization_id, &origin).await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(LoginOutcome::Signed(done)))
}

/// The end of a successful login: counters reset, tokens, the event and the audit record.
async fn complete_login(
    tx: &mut store::Tx,
    s: &AppState,
    user: sessions::User,
    wanted: Option<Uuid>,
    origin: &Origin,
) -> Result<LoginResponse, Problem> {
    sqlx::query("UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(&mut **tx)
        .await?;
    let orgs = sessions::memberships(tx, user.id).await?;
    let org = sessions::pick_org(&orgs, wanted, user.organization_id);
    let tokens = sessions::issue(tx, s, &user, org, None, origin).await?;
    let org_id = org.map(|o| o.organization_id);
    outbox::publish(
        tx,
        SOURCE,
        org_id.unwrap_or_default(),
        user.id,
        &v1::UserLoggedIn {
            user_id: user.id.to_string(),
            organization_id: org_id.map(|o| o.to_string()).unwrap_or_default(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(tx, origin, Entry::new("login").user(user.id).org(org_id)).await?;
    Ok(LoginResponse {
        user_id: user.id,
        email: user.email,
        organization_id: org_id,
        organizations: orgs,
        tokens,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaRequest {
    pub mfa_token: String,
    /// A current authenticator code or a recovery code.
    pub code: String,
}

/// The second login step for accounts with MFA. Wrong codes count toward the lockout.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth", request_body = LoginMfaRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = kit::ProblemBody)))]
pub async fn login_mfa(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<LoginMfaRequest>,
) -> Result<Json<LoginResponse>, Problem> {
    s.limiter
        .enforce("login", Subject::Ip(&ip.0), Limit::per_hour(20))
        .await?;
    let origin = Origin::new(ip, ua);
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    match crate::mfa::second_step(&mut tx, &s, &req.mfa_token, &req.code).await? {
        crate::mfa::Second::Passed { user, org } => {
            let user = sessions::load_user(&mut tx, user)
                .await?
                .filter(|u| {
                    u.locked_until
                        .is_none_or(|t| t <= OffsetDateTime::now_utc())
                })
                .ok_or_else(|| Problem::unauthorized(BAD_LOGIN))?;
            let done = complete_login(&mut tx, &s, user, org, &origin).await?;
            tx.commit().await.map_err(Problem::from)?;
            Ok(Json(done))
        }
        crate::mfa::Second::Failed { email } => {
            record_failure(&mut tx, &origin, &email, false).await?;
            tx.commit().await.map_err(Problem::from)?;
            Err(Problem::unauthorized("the code is not valid"))
        }
        crate::mfa::Second::Invalid => {
            Err(Problem::unauthorized("the MFA step expired; sign in again"))
        }
    }
}

/// Counts a failed login; the fifth in a row locks the account for 15 minutes.
async fn record_failure(
    tx: &mut store::Tx,
    origin: &Origin,
    email: &str,
    already_locked: bool,
) -> Result<(), Problem> {
    let row = sqlx::query(
        "UPDATE users SET failed_login_count = CASE WHEN failed_login_count + 1 >= $2 THEN 0 ELSE failed_login_count + 1 END, \
         locked_until = CASE WHEN failed_login_count + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END \
         WHERE lower(email) = lower($1) AND NOT (locked_until IS NOT NULL AND locked_until > now()) \
         RETURNING id, locked_until IS NOT NULL AND locked_until > now()",
    )
    .bind(email)
    .bind(LOCK_AFTER)
    .bind(i32::try_from(LOCK_FOR.whole_minutes()).unwrap_or(15))
    .fetch_optional(&mut **tx)
    .await?;
    let (user, now_locked) = match row {
        Some(r) => (Some(r.get::<Uuid, _>(0)), r.get::<bool, _>(1)),
        None => (None, false),
    };
    let mut entry = Entry::new(if already_locked {
        "login_while_locked"
    } else {
        "login_failed"
    })
    .meta(serde_json::json!({"email": email}));
    if let Some(u) = user {
        entry = entry.user(u);
    }
    audit::record(tx, origin, entry).await?;
    if now_locked && let Some(u) = user {
        audit::record(tx, origin, Entry::new("account_locked").user(u)).await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
    /// Switch the access token to another of the user's organisations.
    #[serde(default)]
    pub organization_id: Option<Uuid>,
}

/// Exchange a refresh token for new tokens. The old refresh token stops working; presenting
/// it again revokes every token of that sign-in.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Tokens), (status = 401, body = kit::ProblemBody)))]
pub async fn refresh(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<RefreshRequest>,
) -> Result<Json<LoginResponse>, Problem> {
    if req.refresh_token.len() > 256 {
        return Err(Problem::unauthorized("invalid refresh token"));
    }
    let origin = Origin::new(ip, ua);
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let (user_id, org, family) = match sessions::present(&mut tx, &req.refresh_token).await? {
        Presented::Valid { user, org, family } => (user, org, family),
        Presented::Reused { user } => {
            audit::record(
                &mut tx,
                &origin,
                Entry::new("refresh_token_reuse_detected").user(user),
            )
            .await?;
            tx.commit().await.map_err(Problem::from)?;
            return Err(Problem::unauthorized(
                "refresh token was already used; sign in again",
            ));
        }
        Presented::Invalid => {
            return Err(Problem::unauthorized("invalid or expired refresh token"));
        }
    };
    let user = sessions::load_user(&mut tx, user_id)
        .await?
        .filter(|u| matches!(u.account_status.as_str(), "active" | "claimed"))
        .ok_or_else(|| Problem::unauthorized("the account is not active"))?;
    let orgs = sessions::memberships(&mut tx, user.id).await?;
    let wanted = req.organization_id.or(org);
    if let Some(w) = req.organization_id
        && !orgs.iter().any(|o| o.organization_id == w)
    {
        return Err(Problem::not_found("organization"));
    }
    let chosen = sessions::pick_org(&orgs, wanted, user.organization_id);
    let tokens = sessions::issue(&mut tx, &s, &user, chosen, Some(family), &origin).await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(LoginResponse {
        user_id: user.id,
        email: user.email,
        organization_id: chosen.map(|o| o.organization_id),
        organizations: orgs,
        tokens,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    pub refresh_token: String,
}

/// Sign out: the refresh token and every token rotated from it stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = LogoutRequest,
    responses((status = 204)))]
pub async fn logout(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<LogoutRequest>,
) -> Result<StatusCode, Problem> {
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let row = sqlx::query("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(security::digest(&req.refresh_token))
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(r) = row {
        sessions::revoke_family(&mut tx, r.get(0), "logout").await?;
        audit::record(
            &mut tx,
            &Origin::new(ip, ua),
            Entry::new("logout").user(r.get(1)),
        )
        .await?;
    }
    tx.commit().await.map_err(Problem::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller as the platform sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: Uuid,
    /// `client` or `agent`.
    pub user_type: String,
    pub organization_id: Option<Uuid>,
    pub role: String,
    pub email: Option<String>,
    pub agent_id: Option<Uuid>,
    pub primary_role: Option<String>,
    pub all_roles: Vec<String>,
    /// Absent with `?organizations=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizations: Option<Vec<OrgMembership>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MeQuery {
    /// `false` answers from the token alone, without reading the user's organisations.
    #[serde(default)]
    pub organizations: Option<bool>,
}

/// The verified principal of the bearer token and the user's organisations.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])), params(MeQuery),
    responses((status = 200, body = Me), (status = 401, body = kit::ProblemBody)))]
pub async fn me(
    State(s): State<AppState>,
    p: Principal,
    axum::extract::Query(q): axum::extract::Query<MeQuery>,
) -> Result<Json<Me>, Problem> {
    let organizations = if q.organizations == Some(false) {
        None
    } else {
        let mut tx = store::begin(&s.db, Scope::system()).await?;
        Some(sessions::memberships(&mut tx, p.user_id).await?)
    };
    let agent = p.agent.as_ref();
    Ok(Json(Me {
        user_id: p.user_id,
        user_type: match p.user_type {
            UserType::Client => "client",
            UserType::Agent => "agent",
        }
        .into(),
        organization_id: p.organization_id,
        role: p.role.clone(),
        email: p.email.clone(),
        agent_id: agent.map(|a| a.agent_id),
        primary_role: agent.and_then(|a| a.primary_role.clone()),
        all_roles: agent.map(|a| a.all_roles.clone()).unwrap_or_default(),
        organizations,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: &'static str,
}

/// Mail a single-use password link to the address, if it has an account. The answer is the
/// same either way.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202, body = MessageResponse)))]
pub async fn password_reset(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<PasswordResetRequest>,
) -> Result<(StatusCode, Json<MessageResponse>), Problem> {
    s.limiter
        .enforce("password-reset", Subject::Ip(&ip.0), Limit::per_hour(10))
        .await?;
    let email = security::normalise_email("email", &req.email)?;
    let answer = (
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: "If the address has an account, a link to choose a new password is on its way",
        }),
    );
    // Per address as well: a flood of mails to one inbox is refused silently.
    if !s
        .limiter
        .check(
            "password-reset-email",
            Subject::Key(&email),
            Limit::per_hour(5),
        )
        .await?
        .allowed
    {
        return Ok(answer);
    }
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let Some(user) = sessions::load_user_by_email(&mut tx, &email).await? else {
        return Ok(answer);
    };
    if !matches!(user.account_status.as_str(), "active" | "claimed") {
        return Ok(answer);
    }
    let link = issue_password_token(&mut tx, &s, user.id, "reset").await?;
    audit::record(
        &mut tx,
        &Origin::new(ip, ua),
        Entry::new("password_reset_requested").user(user.id),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    s.send(mail::password_reset(&user.email, &link, false))
        .await;
    Ok(answer)
}

/// Creates a single-use password token; returns the link that carries it.
pub(crate) async fn issue_password_token(
    tx: &mut store::Tx,
    s: &AppState,
    user: Uuid,
    purpose: &str,
) -> Result<String, Problem> {
    let token = security::random_token(32);
    let ttl = if purpose == "initial" {
        Duration::days(7)
    } else {
        RESET_TTL
    };
    sqlx::query(
        "INSERT INTO password_tokens (id, user_id, token_hash, purpose, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(security::digest(&token))
    .bind(purpose)
    .bind(OffsetDateTime::now_utc() + ttl)
    .execute(&mut **tx)
    .await?;
    Ok(format!("{}/reset-password?token={token}", s.app_url))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub new_password: String,
}

/// Set a new password with the mailed token. Every session of the account is signed out.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 200, body = MessageResponse), (status = 400, body = kit::ProblemBody)))]
pub async fn password_reset_confirm(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<PasswordResetConfirm>,
) -> Result<Json<MessageResponse>, Problem> {
    s.limiter
        .enforce(
            "password-reset-confirm",
            Subject::Ip(&ip.0),
            Limit::per_hour(20),
        )
        .await?;
    let invalid =
        || Problem::bad_request("the link is invalid, used or expired; request a new one");
    if req.token.len() > 128 {
        return Err(invalid());
    }
    let digest = security::digest(&req.token);
    // Read first, hash outside the transaction (Argon2 takes tens of milliseconds), then
    // re-check under a row lock: a token is used once even when presented twice at once.
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let row = sqlx::query(
        "SELECT t.user_id, u.email FROM password_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    drop(tx);
    let (user_id, email): (Uuid, String) = (row.get(0), row.get(1));
    security::check_password("new_password", &req.new_password, &email)?;
    let hash = security::hash_password(req.new_password).await?;
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let used = sqlx::query(
        "UPDATE password_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING purpose",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    let purpose: String = used.get(0);
    sqlx::query(
        "UPDATE users SET password_hash = $2, failed_login_count = 0, locked_until = NULL, \
         email_verified = true, updated_at = now() WHERE id = $1",
    )
    .bind(user_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    sessions::revoke_user(&mut tx, user_id, None, "password_reset").await?;
    let action = if purpose == "initial" {
        "password_set"
    } else {
        "password_reset"
    };
    audit::record(
        &mut tx,
        &Origin::new(ip, ua),
        Entry::new(action).user(user_id),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    s.send(mail::password_changed(&email)).await;
    Ok(Json(MessageResponse {
        message: "Password updated; sign in with the new password",
    }))
}
