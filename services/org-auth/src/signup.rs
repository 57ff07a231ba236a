//! Accounts under `/api/v1/auth`: sign-up with a work email and a mailed code, the code's
//! verification, and password resets by mailed single-use link.
use axum::{extract::State, http::StatusCode};
use kit::{
    Json, Origin, Problem, Timestamp, Uow,
    contracts::events::v1,
    input::{Email, OptText, Text},
    revocation::Reason,
    sqlx::PgConnection,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState,
    accounts::{self, PasswordPurpose},
    audit::Entry,
    limits::{self, Within},
    mail, problems,
    rules::{self, AccountStatus, VerificationCode, WorkEmail},
    security,
    sessions::{self, Tokens},
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(verify_email))
        .routes(routes!(password_reset))
        .routes(routes!(password_reset_confirm))
}

const CODE_TTL: Duration = Duration::hours(24);
const CODE_ATTEMPTS: i32 = 5;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// A work email; free-mail and disposable domains are refused.
    pub email: WorkEmail,
    pub password: String,
    #[schema(inline)]
    pub full_name: Text<1, 200>,
    #[schema(inline)]
    pub company_name: Text<2, 100>,
    #[serde(default)]
    #[schema(inline)]
    pub role_in_company: OptText<100>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub user_id: Uuid,
    pub email: String,
    pub verification_status: &'static str,
    pub verification_email_sent: bool,
    pub message: &'static str,
    /// When the verification code expires.
    pub expires_at: Timestamp,
}

/// Sign up with a work email; a 6-character code is mailed to verify it.
///
/// The answer is the same whether or not the address already has an account (the owner of an
/// existing account is told by email instead), so the endpoint cannot be used to probe emails.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 422, body = kit::ProblemBody),
              (status = 429, body = kit::ProblemBody)))]
async fn signup(
    State(s): State<AppState>,
    _: Within<limits::Signup>,
    origin: Origin,
    Json(req): Json<SignupRequest>,
) -> Result<(StatusCode, Json<SignupResponse>), Problem> {
    rules::password_policy("password", &req.password, &req.email)?;
    let hash = security::hash_password(req.password.clone()).await?;
    let expires_at = Timestamp::now() + CODE_TTL;
    let respond = |user_id, sent| {
        let answer = SignupResponse {
            user_id,
            email: req.email.to_string(),
            verification_status: "pending",
            verification_email_sent: sent,
            message: "Please check your email to verify your account",
            expires_at,
        };
        (StatusCode::CREATED, Json(answer))
    };
    let mut uow = s.db.system().await?.from(&origin);
    let user_id = match sessions::load_user_by_email(&mut uow, &req.email).await? {
        Some(u) if u.email_verified || u.account_status != AccountStatus::Active => {
            uow.audit(Entry::new("signup_existing_email").user(u.id))
                .await?;
            uow.commit().await?;
            // The answer says whether the mail went out, so it is sent here, not after commit.
            let sent = s
                .mail
                .send(mail::already_registered(&req.email, &s.app_url))
                .await;
            // A fresh id that leads nowhere: the response must look like a new signup's.
            return Ok(respond(Uuid::now_v7(), sent));
        }
        // Not verified yet: whoever controls the mailbox finishes this signup, with the
        // password sent along with the code it verifies (kept with the code, below).
        Some(u) => u.id,
        None => create_user(&mut uow, &hash, &req).await?,
    };
    let code = security::verification_code();
    PendingCode::insert(&mut uow, user_id, &code, expires_at, &hash, &req).await?;
    let meta = serde_json::json!({"company_name": req.company_name});
    uow.audit(Entry::new("signup").user(user_id).meta(meta))
        .await?;
    uow.commit().await?;
    let sent = s
        .mail
        .send(mail::verification_code(&req.email, &req.full_name, &code))
        .await;
    Ok(respond(user_id, sent))
}

/// A new user, unverified. Its first password is stored with it too (so that a sign-in before
/// verifying is told to verify), but the password that counts is the one its verified code
/// brings.
async fn create_user(uow: &mut Uow, hash: &str, req: &SignupRequest) -> Result<Uuid, Problem> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, full_name, user_type, role, role_in_company) \
         VALUES ($1, $2, $3, $4, 'client', 'member', $5)",
    )
    .bind(id)
    .bind(&*req.email)
    .bind(hash)
    .bind(req.full_name.as_str())
    .bind(req.role_in_company.as_deref())
    .execute(&mut **uow)
    .await?;
    let event = v1::UserSignedUp {
        user_id: id.to_string(),
        email: req.email.to_string(),
        company_name: req.company_name.to_string(),
    };
    uow.emit(Uuid::nil(), id, &event).await?;
    Ok(id)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    pub email: Email,
    /// The 6-character code from the email, e.g. `ABC123`.
    pub verification_code: VerificationCode,
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

/// A code a user was mailed, as stored, with the password and profile of the signup that
/// asked for it: a user may have several (one per signup) until one of them is verified.
#[derive(sqlx::FromRow)]
struct PendingCode {
    code_hash: String,
    password_hash: Option<String>,
    full_name: Option<String>,
    role_in_company: Option<String>,
}

impl PendingCode {
    /// Keeps `code` (as a digest) for `user` with what the signup `req` sent.
    async fn insert(
        conn: &mut PgConnection,
        user: Uuid,
        code: &str,
        expires_at: Timestamp,
        password_hash: &str,
        req: &SignupRequest,
    ) -> Result<(), Problem> {
        sqlx::query("DELETE FROM email_verifications WHERE user_id = $1 AND expires_at <= now()")
            .bind(user)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO email_verifications \
             (id, user_id, code_hash, attempts, expires_at, password_hash, full_name, role_in_company) \
             VALUES ($1, $2, $3, 0, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(user)
        .bind(Self::digest(user, code))
        .bind(expires_at)
        .bind(password_hash)
        .bind(req.full_name.as_str())
        .bind(req.role_in_company.as_deref())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The user's codes that can still be tried. The rows stay locked to the end of the
    /// transaction: concurrent tries count exactly, and a code verifies once.
    async fn usable(conn: &mut PgConnection, user: Uuid) -> Result<Vec<Self>, Problem> {
        Ok(sqlx::query_as(
            "SELECT code_hash, password_hash, full_name, role_in_company FROM email_verifications \
             WHERE user_id = $1 AND attempts < $2 AND expires_at > now() ORDER BY id FOR UPDATE",
        )
        .bind(user)
        .bind(CODE_ATTEMPTS)
        .fetch_all(conn)
        .await?)
    }

    fn digest(user: Uuid, code: &str) -> String {
        security::digest(&format!("{user}:{code}"))
    }

    fn matches(&self, user: Uuid, code: &VerificationCode) -> bool {
        self.code_hash == Self::digest(user, code.as_str())
    }
}

/// Verify the email address with the mailed code; returns tokens.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 200, body = VerifyEmailResponse), (status = 400, body = kit::ProblemBody)))]
async fn verify_email(
    State(s): State<AppState>,
    origin: Origin,
    Json(req): Json<VerifyEmailRequest>,
) -> Result<Json<VerifyEmailResponse>, Problem> {
    limits::VERIFY_EMAIL.spend(&s, &req.email).await?;
    let invalid = || {
        problems::VERIFICATION_CODE_INVALID
            .with("the code is invalid or has expired; request a new one by signing up again")
    };
    let mut uow = s.db.system().await?.from(&origin);
    let user = sessions::load_user_by_email(&mut uow, &req.email)
        .await?
        .ok_or_else(invalid)?;
    let pending = PendingCode::usable(&mut uow, user.id).await?;
    if pending.is_empty() {
        return Err(invalid());
    }
    let Some(verified) = pending
        .iter()
        .find(|c| c.matches(user.id, &req.verification_code))
    else {
        // A wrong guess counts against every code of the user, so that several outstanding
        // codes do not multiply the guesses (the address's hourly budget bounds the rest).
        sqlx::query("UPDATE email_verifications SET attempts = attempts + 1 WHERE user_id = $1")
            .bind(user.id)
            .execute(&mut *uow)
            .await?;
        uow.audit(Entry::new("email_verification_failed").user(user.id))
            .await?;
        uow.commit().await?;
        return Err(invalid());
    };
    // Two signups competed for the address before it was verified: whoever holds the mailbox
    // verifies it, but neither submitted password is trusted — one of them is not the owner's,
    // and the owner cannot tell the two mails apart. The account is left without a password;
    // its owner sets one by the link mailed now.
    let contested = pending.len() > 1;
    mark_verified(&mut uow, user.id, verified, contested).await?;
    if contested {
        let link =
            accounts::password_link(&mut uow, &s.app_url, user.id, PasswordPurpose::Reset).await?;
        uow.audit(Entry::new("signup_contested").user(user.id))
            .await?;
        s.mail
            .after_commit(&mut uow, mail::password_reset(&user.email, &link, true));
    }
    let orgs = sessions::memberships(&mut uow, user.id).await?;
    let org = sessions::pick_org(&orgs, None, user.organization_id);
    let tokens = sessions::issue(&mut uow, &s, &user, org, None).await?;
    uow.audit(Entry::new("email_verified").user(user.id))
        .await?;
    uow.commit().await?;
    let next_step = if orgs.is_empty() {
        "create_organization"
    } else {
        "dashboard"
    };
    Ok(Json(VerifyEmailResponse {
        user_id: user.id,
        email_verified: true,
        tokens,
        next_step,
    }))
}

/// The address is verified with `code`: the password and profile sent with that code become
/// the user's (a code from before they were kept with it leaves the user's own), and every code
/// of the user is used up.
async fn mark_verified(
    conn: &mut PgConnection,
    user: Uuid,
    code: &PendingCode,
    contested: bool,
) -> Result<(), Problem> {
    sqlx::query(
        "UPDATE users SET email_verified = true, \
         password_hash = CASE WHEN $5 THEN NULL ELSE COALESCE($2, password_hash) END, \
         full_name = COALESCE($3, full_name), \
         role_in_company = CASE WHEN $2::text IS NULL THEN role_in_company ELSE $4 END, \
         updated_at = now() WHERE id = $1",
    )
    .bind(user)
    .bind(code.password_hash.as_deref())
    .bind(code.full_name.as_deref())
    .bind(code.role_in_company.as_deref())
    .bind(contested)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM email_verifications WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: Email,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: &'static str,
}

/// Mail a single-use password link to the address, if it has an account. The answer is the
/// same either way.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202, body = MessageResponse)))]
async fn password_reset(
    State(s): State<AppState>,
    _: Within<limits::PasswordReset>,
    origin: Origin,
    Json(req): Json<PasswordResetRequest>,
) -> Result<(StatusCode, Json<MessageResponse>), Problem> {
    let answer = (
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: "If the address has an account, a link to choose a new password is on its way",
        }),
    );
    // Known and unknown addresses take one path here: the lookup, the link and the mail happen
    // off the request, so neither the answer nor its timing tells them apart. (A link lost to
    // a restart in between is asked for again.)
    let email = req.email.to_string();
    tokio::spawn(async move {
        if let Err(p) = mail_reset_link(&s, &origin, &email).await {
            tracing::warn!(problem = %p, "a requested password link was not mailed");
        }
    });
    Ok(answer)
}

/// Mails a password link to `email` if it has an account that may sign in.
async fn mail_reset_link(s: &AppState, origin: &Origin, email: &str) -> Result<(), Problem> {
    // Per address as well: a flood of mails to one inbox is refused silently.
    if !limits::RESET_MAIL.allows(s, email).await? {
        return Ok(());
    }
    let mut uow = s.db.system().await?.from(origin);
    let Some(user) = sessions::load_user_by_email(&mut uow, email)
        .await?
        .filter(|u| u.account_status.may_sign_in())
    else {
        return Ok(());
    };
    let link =
        accounts::password_link(&mut uow, &s.app_url, user.id, PasswordPurpose::Reset).await?;
    uow.audit(Entry::new("password_reset_requested").user(user.id))
        .await?;
    s.mail
        .after_commit(&mut uow, mail::password_reset(&user.email, &link, false));
    uow.commit().await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub new_password: String,
}

/// Whom an unused password link is for.
#[derive(sqlx::FromRow)]
struct LinkHolder {
    user_id: Uuid,
    email: String,
}

impl LinkHolder {
    async fn find(conn: &mut PgConnection, digest: &str) -> Result<Option<Self>, Problem> {
        Ok(sqlx::query_as(
            "SELECT t.user_id, u.email FROM password_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()",
        )
        .bind(digest)
        .fetch_optional(conn)
        .await?)
    }
}

/// Set a new password with the mailed token. Every session of the account is signed out.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 200, body = MessageResponse), (status = 400, body = kit::ProblemBody)))]
async fn password_reset_confirm(
    State(s): State<AppState>,
    _: Within<limits::PasswordResetConfirm>,
    origin: Origin,
    Json(req): Json<PasswordResetConfirm>,
) -> Result<Json<MessageResponse>, Problem> {
    let invalid = || {
        problems::PASSWORD_LINK_INVALID
            .with("the link is invalid, used or expired; request a new one")
    };
    if req.token.len() > 128 {
        return Err(invalid());
    }
    let digest = security::digest(&req.token);
    // Read first, hash outside the transaction (Argon2 takes tens of milliseconds), then
    // re-check under a row lock: a token is used once even when presented twice at once.
    let holder = LinkHolder::find(&mut *s.db.system().await?, &digest)
        .await?
        .ok_or_else(invalid)?;
    rules::password_policy("new_password", &req.new_password, &holder.email)?;
    let hash = security::hash_password(req.new_password).await?;
    let mut uow = s.db.system().await?.from(&origin);
    let purpose = use_link(&mut uow, &digest).await?.ok_or_else(invalid)?;
    void_other_links(&mut uow, holder.user_id).await?;
    set_password(&mut uow, holder.user_id, &hash).await?;
    s.revoking
        .end_user(&mut uow, holder.user_id, None, Reason::PasswordChanged)
        .await?;
    uow.audit(Entry::new(purpose.audit_action()).user(holder.user_id))
        .await?;
    s.mail
        .after_commit(&mut uow, mail::password_changed(&holder.email));
    uow.commit().await?;
    Ok(Json(MessageResponse {
        message: "Password updated; sign in with the new password",
    }))
}

/// Spends a password link (once, even when presented twice at once); what it was for.
async fn use_link(
    conn: &mut PgConnection,
    digest: &str,
) -> Result<Option<PasswordPurpose>, Problem> {
    Ok(sqlx::query_scalar(
        "UPDATE password_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING purpose",
    )
    .bind(digest)
    .fetch_optional(conn)
    .await?)
}

/// One link spent, the user's other outstanding links (resets, a first password) stop working:
/// an older mail, wherever it went, cannot set the password again.
pub(crate) async fn void_other_links(conn: &mut PgConnection, user: Uuid) -> Result<(), Problem> {
    sqlx::query(
        "UPDATE password_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

/// The new password: the lockout is lifted, and the address counts as verified (the link
/// reached it).
async fn set_password(conn: &mut PgConnection, user: Uuid, hash: &str) -> Result<(), Problem> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, failed_login_count = 0, locked_until = NULL, \
         email_verified = true, updated_at = now() WHERE id = $1",
    )
    .bind(user)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}
