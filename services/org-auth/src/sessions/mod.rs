//! Sessions under `/api/v1/auth`: sign-in (with lockout and the MFA step), refresh with
//! rotation, sign-out, `/me`, and the JWKS that verifies the tokens. The token and user
//! machinery the other modules share is in `tokens`.
use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use kit::{
    Json, Origin, Problem, Uow,
    auth::{Principal, UserType},
    contracts::events::v1,
    input::Email,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState,
    audit::Entry,
    limits::{self, Within},
    mfa, problems,
    rules::SignInPassword,
    security,
};

mod tokens;
pub(crate) use tokens::{
    OrgMembership, Presented, Tokens, User, issue, load_user, load_user_by_email, memberships,
    pick_org, revoke_family, revoke_user,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(login))
        .routes(routes!(login_mfa))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Failed logins before the account locks, and for how long.
const LOCK_AFTER: i32 = 5;
const LOCK_FOR: Duration = Duration::minutes(15);
/// The same answer for an unknown email, a wrong password and a locked account.
const BAD_LOGIN: &str = "email or password is incorrect, or the account is temporarily locked";

/// The public keys that verify access tokens (RS256, selected by `kid`).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JWK set", content_type = "application/json")))]
async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    (
        // Verifiers cache it and refetch on an unknown kid; a short max-age keeps rotation quick.
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(s.jwks.as_ref().clone()),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: Email,
    pub password: SignInPassword,
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
async fn login(
    State(s): State<AppState>,
    _: Within<limits::Login>,
    origin: Origin,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginOutcome>, Problem> {
    let mut uow = s.db.system().await?.from(&origin);
    let user = load_user_by_email(&mut uow, &req.email).await?;
    let locked = user.as_ref().is_some_and(User::is_locked);
    let hash = user
        .as_ref()
        .filter(|_| !locked)
        .and_then(|u| u.password_hash.clone());
    let ok = security::verify_password(req.password.into_inner(), hash).await;
    let Some(user) = user.filter(|_| ok) else {
        record_failure(&mut uow, &req.email, locked).await?;
        uow.commit().await?;
        return Err(problems::INVALID_CREDENTIALS.with(BAD_LOGIN));
    };
    may_sign_in(&user)?;
    let outcome = if user.mfa_enabled {
        LoginOutcome::Mfa(start_mfa(&mut uow, &user, req.organization_id).await?)
    } else {
        LoginOutcome::Signed(complete_login(&mut uow, &s, user, req.organization_id).await?)
    };
    uow.commit().await?;
    Ok(Json(outcome))
}

/// A user whose password was right may sign in if the account is active and verified.
fn may_sign_in(user: &User) -> Result<(), Problem> {
    if !user.account_status.may_sign_in() {
        let status = user.account_status;
        return Err(problems::ACCOUNT_INACTIVE.with(format!("the account is {status}")));
    }
    if !user.email_verified {
        return Err(problems::EMAIL_UNVERIFIED.with("verify your email address first"));
    }
    Ok(())
}

/// The second step an account with MFA on still needs.
async fn start_mfa(uow: &mut Uow, user: &User, org: Option<Uuid>) -> Result<MfaRequired, Problem> {
    let token = mfa::challenge(uow, user.id, org).await?;
    uow.audit(Entry::new("login_mfa_challenged").user(user.id))
        .await?;
    Ok(MfaRequired {
        mfa_required: true,
        mfa_token: token,
        methods: vec!["totp", "recovery_code"],
    })
}

/// The end of a successful login: counters reset, tokens, the event and the audit record.
async fn complete_login(
    uow: &mut Uow,
    s: &AppState,
    user: User,
    wanted: Option<Uuid>,
) -> Result<LoginResponse, Problem> {
    sqlx::query("UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(&mut **uow)
        .await?;
    let orgs = memberships(uow, user.id).await?;
    let org = pick_org(&orgs, wanted, user.organization_id);
    let tokens = issue(uow, s, &user, org, None).await?;
    let org_id = org.map(|o| o.organization_id);
    uow.emit(
        org_id.unwrap_or_default(),
        user.id,
        &v1::UserLoggedIn {
            user_id: user.id.to_string(),
            organization_id: org_id.map(|o| o.to_string()).unwrap_or_default(),
        },
    )
    .await?;
    uow.audit(Entry::new("login").user(user.id).org(org_id))
        .await?;
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
async fn login_mfa(
    State(s): State<AppState>,
    _: Within<limits::Login>,
    origin: Origin,
    Json(req): Json<LoginMfaRequest>,
) -> Result<Json<LoginResponse>, Problem> {
    let mut uow = s.db.system().await?.from(&origin);
    match mfa::second_step(&mut uow, &s, &req.mfa_token, &req.code).await? {
        mfa::Second::Passed { user, org } => {
            let user = load_user(&mut uow, user)
                .await?
                .filter(|u| !u.is_locked())
                .ok_or_else(|| problems::INVALID_CREDENTIALS.with(BAD_LOGIN))?;
            let done = complete_login(&mut uow, &s, user, org).await?;
            uow.commit().await?;
            Ok(Json(done))
        }
        mfa::Second::Failed { email } => {
            record_failure(&mut uow, &email, false).await?;
            uow.commit().await?;
            Err(problems::MFA_CODE_INVALID.with("the code is not valid"))
        }
        mfa::Second::Invalid => {
            Err(problems::MFA_STEP_EXPIRED.with("the MFA step expired; sign in again"))
        }
    }
}

#[derive(sqlx::FromRow)]
struct Failure {
    id: Uuid,
    now_locked: bool,
}

/// Counts a failed login; the fifth in a row locks the account for 15 minutes.
async fn record_failure(uow: &mut Uow, email: &str, already_locked: bool) -> Result<(), Problem> {
    let failed: Option<Failure> = sqlx::query_as(
        "UPDATE users SET failed_login_count = CASE WHEN failed_login_count + 1 >= $2 THEN 0 ELSE failed_login_count + 1 END, \
         locked_until = CASE WHEN failed_login_count + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END \
         WHERE lower(email) = lower($1) AND NOT (locked_until IS NOT NULL AND locked_until > now()) \
         RETURNING id, locked_until IS NOT NULL AND locked_until > now() AS now_locked",
    )
    .bind(email)
    .bind(LOCK_AFTER)
    .bind(i32::try_from(LOCK_FOR.whole_minutes()).unwrap_or(15))
    .fetch_optional(&mut **uow)
    .await?;
    let action = if already_locked {
        "login_while_locked"
    } else {
        "login_failed"
    };
    let mut entry = Entry::new(action).meta(serde_json::json!({"email": email}));
    if let Some(f) = &failed {
        entry = entry.user(f.id);
    }
    uow.audit(entry).await?;
    if let Some(f) = failed.filter(|f| f.now_locked) {
        uow.audit(Entry::new("account_locked").user(f.id)).await?;
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
async fn refresh(
    State(s): State<AppState>,
    origin: Origin,
    Json(req): Json<RefreshRequest>,
) -> Result<Json<LoginResponse>, Problem> {
    if req.refresh_token.len() > 256 {
        return Err(problems::REFRESH_INVALID.with("invalid refresh token"));
    }
    let mut uow = s.db.system().await?.from(&origin);
    let (user_id, org, family) = match tokens::present(&mut uow, &req.refresh_token).await? {
        Presented::Valid { user, org, family } => (user, org, family),
        Presented::Reused { user } => return Err(reused(uow, user).await?),
        Presented::Invalid => {
            return Err(problems::REFRESH_INVALID.with("invalid or expired refresh token"));
        }
    };
    let user = load_user(&mut uow, user_id)
        .await?
        .filter(|u| u.account_status.may_sign_in())
        .ok_or_else(|| problems::REFRESH_INVALID.with("the account is not active"))?;
    let orgs = memberships(&mut uow, user.id).await?;
    let chosen = switch_org(&orgs, req.organization_id, org, user.organization_id)?;
    let tokens = issue(&mut uow, &s, &user, chosen, Some(family)).await?;
    uow.commit().await?;
    Ok(Json(LoginResponse {
        user_id: user.id,
        email: user.email,
        organization_id: chosen.map(|o| o.organization_id),
        organizations: orgs,
        tokens,
    }))
}

/// A rotated token came back (its family is revoked by now): recorded, then refused.
async fn reused(mut uow: Uow, user: Uuid) -> Result<Problem, Problem> {
    uow.audit(Entry::new("refresh_token_reuse_detected").user(user))
        .await?;
    uow.commit().await?;
    Ok(problems::REFRESH_REUSE.with("refresh token was already used; sign in again"))
}

/// The organisation a refreshed token acts in: the one asked for (404 unless the user is a
/// member), else the refreshed token's, else the primary one, else the first.
fn switch_org(
    orgs: &[OrgMembership],
    wanted: Option<Uuid>,
    current: Option<Uuid>,
    primary: Option<Uuid>,
) -> Result<Option<&OrgMembership>, Problem> {
    if let Some(w) = wanted
        && !orgs.iter().any(|o| o.organization_id == w)
    {
        return Err(Problem::not_found("organization"));
    }
    Ok(pick_org(orgs, wanted.or(current), primary))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    pub refresh_token: String,
}

#[derive(sqlx::FromRow)]
struct SignIn {
    family_id: Uuid,
    user_id: Uuid,
}

/// Sign out: the refresh token and every token rotated from it stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = LogoutRequest,
    responses((status = 204)))]
async fn logout(
    State(s): State<AppState>,
    origin: Origin,
    Json(req): Json<LogoutRequest>,
) -> Result<StatusCode, Problem> {
    let mut uow = s.db.system().await?.from(&origin);
    let sign_in: Option<SignIn> =
        sqlx::query_as("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(security::digest(&req.refresh_token))
            .fetch_optional(&mut *uow)
            .await?;
    if let Some(si) = sign_in {
        revoke_family(&mut uow, si.family_id, "logout").await?;
        uow.audit(Entry::new("logout").user(si.user_id)).await?;
    }
    uow.commit().await?;
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

#[derive(Debug, Deserialize, IntoParams)]
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
async fn me(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<MeQuery>,
) -> Result<Json<Me>, Problem> {
    let organizations = if q.organizations == Some(false) {
        None
    } else {
        let mut uow = s.db.system().await?;
        Some(memberships(&mut uow, p.user_id).await?)
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
