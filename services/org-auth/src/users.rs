//! Platform admins' work on logins of any kind (clients and agents): deactivating one (no
//! token is issued to it again and every session and delegated access of it ends),
//! reactivating it, and lifting its sign-in lockout early — the only unlock an agent's login
//! has, agents belonging to no organisation whose admins could. Each change is audited in its
//! own transaction, with the acting admin.
use axum::extract::{Path, State};
use kit::{
    Json, Origin, Problem, Timestamp, Uow,
    auth::Principal,
    input::Text,
    revocation::Reason,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState,
    access::PlatformAdmin,
    audit::Entry,
    members::Unlocked,
    problems,
    rules::{AccountStatus, UserKind},
    sessions,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deactivate_user))
        .routes(routes!(reactivate_user))
        .routes(routes!(unlock_user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deactivate {
    // Why, for the audit log. (A doc comment here would wrap the inline schema in an `allOf`
    // with an object, which no string satisfies.)
    #[schema(inline)]
    pub reason: Text<3, 500>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserStatus {
    pub user_id: Uuid,
    /// `client` or `agent`.
    pub user_type: UserKind,
    pub account_status: AccountStatus,
    /// Refresh tokens revoked by the change.
    pub sessions_revoked: u64,
    pub updated_at: Timestamp,
    pub updated_by: Uuid,
}

#[derive(sqlx::FromRow)]
struct Login {
    user_type: UserKind,
    account_status: AccountStatus,
}

/// A platform admin's unit of work on logins: the service's own scope, since sessions are
/// credential data; the admin is its actor.
async fn admin_unit(s: &AppState, p: &Principal, origin: &Origin) -> Result<Uow, Problem> {
    Ok(s.db.system().await?.by(p).from(origin))
}

/// `user`'s login, row-locked until the change commits (two changes of one login queue).
async fn lock(uow: &mut Uow, user: Uuid) -> Result<Login, Problem> {
    sqlx::query_as("SELECT user_type, account_status FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .fetch_optional(&mut **uow)
        .await?
        .ok_or_else(|| Problem::not_found("user"))
}

async fn set_status(
    uow: &mut Uow,
    user: Uuid,
    status: AccountStatus,
) -> Result<Timestamp, Problem> {
    Ok(sqlx::query_scalar(
        "UPDATE users SET account_status = $2, updated_at = now() WHERE id = $1 RETURNING updated_at",
    )
    .bind(user)
    .bind(status)
    .fetch_one(&mut **uow)
    .await?)
}

/// Deactivate a login (platform admins): it signs in no more, its sessions end at once
/// everywhere (access tokens too), and temporary access given to it ends.
#[utoipa::path(post, path = "/api/v1/auth/users/{user_id}/deactivate", tag = "users",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = Deactivate,
    responses((status = 200, body = UserStatus), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn deactivate_user(
    State(s): State<AppState>,
    PlatformAdmin(p): PlatformAdmin,
    origin: Origin,
    Path(user): Path<Uuid>,
    Json(req): Json<Deactivate>,
) -> Result<Json<UserStatus>, Problem> {
    let mut uow = admin_unit(&s, &p, &origin).await?;
    let login = lock(&mut uow, user).await?;
    if user == p.user_id {
        return Err(problems::USER_STATE.with("a platform admin cannot deactivate its own login"));
    }
    if !login.account_status.may_sign_in() {
        let status = login.account_status;
        return Err(problems::USER_STATE.with(format!("the account is {status}, not active")));
    }
    let updated_at = set_status(&mut uow, user, AccountStatus::Suspended).await?;
    let revoked = s
        .revoking
        .end_user(&mut uow, user, None, Reason::Deactivated)
        .await?;
    s.revoking
        .grants_to(&mut uow, user, Reason::Deactivated)
        .await?;
    let meta = json!({"reason": req.reason, "sessions_revoked": revoked});
    uow.audit(
        Entry::new("user_deactivated")
            .user(user)
            .by_actor()
            .meta(meta),
    )
    .await?;
    uow.commit().await?;
    Ok(Json(UserStatus {
        user_id: user,
        user_type: login.user_type,
        account_status: AccountStatus::Suspended,
        sessions_revoked: revoked,
        updated_at,
        updated_by: p.user_id,
    }))
}

/// Reactivate a deactivated login (platform admins): it may sign in again.
#[utoipa::path(post, path = "/api/v1/auth/users/{user_id}/reactivate", tag = "users",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)),
    responses((status = 200, body = UserStatus), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
async fn reactivate_user(
    State(s): State<AppState>,
    PlatformAdmin(p): PlatformAdmin,
    origin: Origin,
    Path(user): Path<Uuid>,
) -> Result<Json<UserStatus>, Problem> {
    let mut uow = admin_unit(&s, &p, &origin).await?;
    let login = lock(&mut uow, user).await?;
    if login.account_status != AccountStatus::Suspended {
        let status = login.account_status;
        return Err(problems::USER_STATE.with(format!("the account is {status}, not deactivated")));
    }
    let updated_at = set_status(&mut uow, user, AccountStatus::Active).await?;
    uow.audit(Entry::new("user_reactivated").user(user).by_actor())
        .await?;
    uow.commit().await?;
    Ok(Json(UserStatus {
        user_id: user,
        user_type: login.user_type,
        account_status: AccountStatus::Active,
        sessions_revoked: 0,
        updated_at,
        updated_by: p.user_id,
    }))
}

/// Lift a login's sign-in lockout before its 15 minutes are over (platform admins; any login,
/// agents' included).
#[utoipa::path(post, path = "/api/v1/auth/users/{user_id}/unlock", tag = "users",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)),
    responses((status = 200, body = Unlocked), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody)))]
async fn unlock_user(
    State(s): State<AppState>,
    PlatformAdmin(p): PlatformAdmin,
    origin: Origin,
    Path(user): Path<Uuid>,
) -> Result<Json<Unlocked>, Problem> {
    let mut uow = admin_unit(&s, &p, &origin).await?;
    let login = lock(&mut uow, user).await?;
    let unlocked = sessions::unlock(&mut uow, user).await?;
    let meta = json!({"user_type": login.user_type, "was_locked": unlocked});
    uow.audit(
        Entry::new("account_unlocked")
            .user(user)
            .by_actor()
            .meta(meta),
    )
    .await?;
    uow.commit().await?;
    Ok(Json(Unlocked {
        user_id: user,
        unlocked,
    }))
}
