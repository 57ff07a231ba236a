//! Sessions under `/api/v1/auth`: sign-in (with lockout and the MFA step), refresh with
//! rotation, sign-out, `/me`, and the JWKS that verifies the tokens. The token and user
//! machinery the other modules share is in `tokens`; the lockout's counting in `lockout`.
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
    revocation::Reason,
    store::Scope,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use lockout::Standing;

use crate::{
    AppState,
    audit::Entry,
    limits::{self, Within},
    mfa::{self, Due, Issuing, MfaRequired},
    problems,
    rules::SignInPassword,
    security,
};

mod lockout;
mod password;
mod tokens;
pub(crate) use lockout::unlock;
pub(crate) use tokens::{
    OrgMembership, Presented, Tokens, User, issue, load_user, load_user_by_email, lock_sessions,
    memberships, pick_org, revoke_family, revoke_user,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(login))
        .routes(routes!(login_mfa))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(password::change_password))
}

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

/// Tokens, or the MFA step the sign-in still owes (see [`mfa::decide`]).
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
    /// After an MFA enrolment at sign-in: the recovery codes, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// What a sign-in by other means than a password (OAuth, a claim, an invitation) answers:
/// tokens, or the MFA step still owed, completed at `POST /api/v1/auth/login/mfa`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Session {
    Tokens(Tokens),
    Mfa(MfaRequired),
}

/// Signs `user` in acting in `org`: tokens, or the MFA step the decision asks for first.
pub(crate) async fn sign_in(
    uow: &mut Uow,
    s: &AppState,
    user: &User,
    org: Option<&OrgMembership>,
) -> Result<Session, Problem> {
    let acting = org.map(|o| o.organization_id);
    Ok(match mfa::decide(uow, user, Issuing::SignIn).await? {
        None => Session::Tokens(issue(uow, s, user, org, None).await?),
        Some(due) => Session::Mfa(start_mfa(uow, s, user, acting, due).await?),
    })
}

/// Sign in with email and password. Five failures in a row (passwords or MFA codes) from one
/// client address lock that address out of the account for 15 minutes; failures from several
/// addresses make further attempts wait (429 with `Retry-After`), except from an address that
/// signed in to the account before. With MFA on (or required by an organisation of the user
/// and not set up yet), the answer is the MFA step instead of tokens.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginOutcome), (status = 401, body = kit::ProblemBody),
              (status = 429, body = kit::ProblemBody), (status = 503, body = kit::ProblemBody)))]
async fn login(
    State(s): State<AppState>,
    _: Within<limits::Login>,
    origin: Origin,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginOutcome>, Problem> {
    let source = limits::address_key(&origin.ip);
    // Read, then check the password with no transaction open: the check may wait its turn at
    // the hasher, and a connection must not wait with it.
    let (user, standing) = {
        let mut read = s.db.read(Scope::system()).await?;
        let user = load_user_by_email(&mut read, &req.email).await?;
        let standing = lockout::standing(&mut read, &req.email, &source).await?;
        (user, standing)
    };
    if let Standing::Delayed { retry_after } = standing {
        return Err(delayed(&s, &origin, &req.email, retry_after).await?);
    }
    let locked = standing == Standing::Locked;
    let hash = user
        .as_ref()
        .filter(|_| !locked)
        .and_then(|u| u.password_hash.clone());
    let ok = security::check_password(req.password.into_inner(), hash).await?;
    let mut uow = s.db.system().await?.from(&origin);
    let Some(user) = user.filter(|_| ok) else {
        record_failure(&mut uow, &req.email, locked).await?;
        uow.commit().await?;
        return Err(problems::INVALID_CREDENTIALS.with(BAD_LOGIN));
    };
    may_sign_in(&user)?;
    lockout::knew_password(&mut uow, &req.email, &source).await?;
    let wanted = req.organization_id;
    let outcome = match mfa::decide(&mut uow, &user, Issuing::SignIn).await? {
        None => LoginOutcome::Signed(complete_login(&mut uow, &s, user, wanted).await?),
        Some(due) => LoginOutcome::Mfa(start_mfa(&mut uow, &s, &user, wanted, due).await?),
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

/// The MFA step `due` of a sign-in of `user`, to act in `org` once it is passed.
async fn start_mfa(
    uow: &mut Uow,
    s: &AppState,
    user: &User,
    org: Option<Uuid>,
    due: Due,
) -> Result<MfaRequired, Problem> {
    let step = mfa::challenge(uow, s, user, org, due).await?;
    let action = match due {
        Due::Code => "login_mfa_challenged",
        Due::Enrolment => "login_mfa_enrollment_required",
    };
    uow.audit(Entry::new(action).user(user.id)).await?;
    Ok(step)
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
        recovery_codes: None,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaRequest {
    pub mfa_token: String,
    /// A current authenticator code or a recovery code.
    pub code: String,
}

/// The second step of a sign-in that owes one (a password login, OAuth, a claim or an
/// invitation): a code of the user's authenticator, or after an enrolment step its first code,
/// which turns MFA on (the answer then carries the recovery codes). Wrong codes count toward
/// the lockout.
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
        mfa::Second::Passed {
            user,
            org,
            recovery_codes,
        } => {
            let user = load_user(&mut uow, user)
                .await?
                .filter(|u| u.account_status.may_sign_in())
                .ok_or_else(|| problems::INVALID_CREDENTIALS.with(BAD_LOGIN))?;
            // The lock is this source's, as at the password step: failures from elsewhere
            // must not keep the owner from finishing its own sign-in.
            let source = limits::address_key(&origin.ip);
            if lockout::standing(&mut uow, &user.email, &source).await? == Standing::Locked {
                return Err(problems::INVALID_CREDENTIALS.with(BAD_LOGIN));
            }
            if recovery_codes.is_some() {
                uow.audit(Entry::new("mfa_enabled").user(user.id).org(org))
                    .await?;
            }
            let mut done = complete_login(&mut uow, &s, user, org).await?;
            done.recovery_codes = recovery_codes;
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

/// Counts a failed sign-in (a wrong password or MFA code) to `email` from the unit's source;
/// the fifth in a row from one source locks that source out for 15 minutes (see `lockout`).
/// An attempt from a source already locked out is recorded, not counted.
async fn record_failure(uow: &mut Uow, email: &str, already_locked: bool) -> Result<(), Problem> {
    let source = limits::address_key(&uow.origin().ip);
    let meta = serde_json::json!({"email": email});
    if already_locked {
        return uow.audit(Entry::new("login_while_locked").meta(meta)).await;
    }
    let failed = lockout::failed(uow, email, &source).await?;
    let mut entry = Entry::new("login_failed").meta(meta);
    if let Some(user) = failed.user {
        entry = entry.user(user);
    }
    uow.audit(entry).await?;
    if failed.locked_now {
        let mut entry = Entry::new("account_locked").meta(serde_json::json!({"source": source}));
        if let Some(user) = failed.user {
            entry = entry.user(user);
        }
        uow.audit(entry).await?;
    }
    Ok(())
}

/// An attempt held up by the failures to its address: recorded, then answered 429.
async fn delayed(
    s: &AppState,
    origin: &Origin,
    email: &str,
    retry_after: u64,
) -> Result<Problem, Problem> {
    let mut uow = s.db.system().await?.from(origin);
    uow.audit(Entry::new("login_delayed").meta(serde_json::json!({"email": email})))
        .await?;
    uow.commit().await?;
    Ok(problems::LOGIN_DELAYED
        .with("too many failed sign-ins to this address; wait before trying again")
        .with_retry_after(retry_after))
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
        Presented::Reused { user, family } => return Err(reused(uow, &s, user, family).await?),
        Presented::Invalid => {
            return Err(problems::REFRESH_INVALID.with("invalid or expired refresh token"));
        }
    };
    let user = load_user(&mut uow, user_id)
        .await?
        .filter(|u| u.account_status.may_sign_in())
        .ok_or_else(|| problems::REFRESH_INVALID.with("the account is not active"))?;
    // Refused while an organisation of the user requires MFA the user has not set up.
    mfa::decide(&mut uow, &user, Issuing::Refresh).await?;
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
        recovery_codes: None,
    }))
}

/// A rotated token came back (its family's refresh tokens are revoked by now): its access
/// tokens are revoked too — one of the two holders is not the user — recorded, then refused.
async fn reused(mut uow: Uow, s: &AppState, user: Uuid, family: Uuid) -> Result<Problem, Problem> {
    s.revoking
        .end_family(&mut uow, None, family, Reason::RefreshReuse)
        .await?;
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
        s.revoking
            .end_family(&mut uow, None, si.family_id, Reason::Logout)
            .await?;
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
