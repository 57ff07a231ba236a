//! A signed-in user changes its password: the current one is required (wrong ones count toward
//! the sign-in lockout, as at sign-in), the new one follows the policy and is hashed within the
//! hashing bound, and every other sign-in of the user ends — the one asking keeps its tokens.
use axum::extract::State;
use kit::{Json, Origin, Problem, auth::Principal, revocation::Reason, sqlx::PgConnection};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Standing, delayed, load_user, lockout, may_sign_in};
use crate::{
    AppState, audit::Entry, limits, mail, problems, rules, rules::SignInPassword, security, signup,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    #[schema(value_type = String, format = Password)]
    pub current_password: SignInPassword,
    /// 10–128 characters, three of lower case, upper case, digits and symbols.
    #[schema(value_type = String, format = Password)]
    pub new_password: SignInPassword,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    pub user_id: Uuid,
    pub password_changed: bool,
    /// Refresh tokens of the user's other sign-ins that were revoked.
    pub other_sessions_revoked: u64,
    pub message: &'static str,
}

/// Change the caller's password. The current password is required; every other sign-in of
/// the user is signed out (their access tokens refused fleet-wide), this one stays.
#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth",
    security(("bearer" = [])), request_body = ChangePassword,
    responses((status = 200, body = PasswordChanged), (status = 400, body = kit::ProblemBody),
              (status = 401, body = kit::ProblemBody), (status = 403, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody),
              (status = 429, body = kit::ProblemBody), (status = 503, body = kit::ProblemBody)))]
pub(super) async fn change_password(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Json(req): Json<ChangePassword>,
) -> Result<Json<PasswordChanged>, Problem> {
    // A credential is the user's own: a delegated (temporary access) token cannot change it.
    p.require_own_token()?;
    let source = limits::address_key(&origin.ip);
    // Read, then hash with no transaction open (a turn at the hasher may take a while).
    let (user, standing) = {
        let mut read = s.db.read(kit::store::Scope::system()).await?;
        let user = load_user(&mut read, p.user_id)
            .await?
            .ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
        let standing = lockout::standing(&mut read, &user.email, &source).await?;
        (user, standing)
    };
    may_sign_in(&user)?;
    if let Standing::Delayed { retry_after } = standing {
        return Err(delayed(&s, &origin, &user.email, retry_after).await?);
    }
    let current = req.current_password.into_inner();
    let new = req.new_password.into_inner();
    let old_hash = user.password_hash.clone();
    let right = standing == Standing::Open
        && security::check_password(current.clone(), old_hash.clone()).await?;
    if !right {
        refused(&s, &p, &origin, &user.email, standing == Standing::Locked).await?;
        return Err(problems::CURRENT_PASSWORD_INVALID.with("the current password is not right"));
    }
    rules::password_policy("new_password", &new, &user.email)?;
    if new == current {
        return Err(Problem::invalid(
            "new_password",
            "must differ from the current password",
        ));
    }
    let hash = security::hash_password(new).await?;
    let mut uow = s.db.system().await?.by(&p).from(&origin);
    replace(&mut uow, user.id, old_hash.as_deref(), &hash).await?;
    signup::void_other_links(&mut uow, user.id).await?;
    let revoked = s
        .revoking
        .end_others(&mut uow, user.id, p.session, Reason::PasswordChanged)
        .await?;
    let meta = json!({"other_sessions_revoked": revoked});
    uow.audit(Entry::new("password_changed").user(user.id).meta(meta))
        .await?;
    s.mail
        .after_commit(&mut uow, mail::password_changed(&user.email));
    uow.commit().await?;
    Ok(Json(PasswordChanged {
        user_id: user.id,
        password_changed: true,
        other_sessions_revoked: revoked,
        message: "Password changed; your other sessions are signed out",
    }))
}

/// Records a refused change: a wrong current password counts as a failed sign-in from the
/// source (the fifth in a row locks it out); from a source locked out already, the attempt is
/// recorded, not counted, and its password was not even checked.
async fn refused(
    s: &AppState,
    p: &Principal,
    origin: &Origin,
    email: &str,
    locked: bool,
) -> Result<(), Problem> {
    let mut uow = s.db.system().await?.by(p).from(origin);
    let entry = if locked {
        Entry::new("password_change_while_locked")
    } else {
        let source = limits::address_key(&origin.ip);
        let failed = lockout::failed(&mut uow, email, &source).await?;
        if failed.locked_now {
            let entry = Entry::new("account_locked").meta(json!({"source": source}));
            uow.audit(entry.user(p.user_id)).await?;
        }
        Entry::new("password_change_failed").meta(json!({"locked_now": failed.locked_now}))
    };
    uow.audit(entry.user(p.user_id)).await?;
    uow.commit().await
}

/// Stores the new hash if the password is still the one checked (two changes at once: the
/// second finds it changed and is refused, 409).
async fn replace(
    conn: &mut PgConnection,
    user: Uuid,
    checked: Option<&str>,
    hash: &str,
) -> Result<(), Problem> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $3, failed_login_count = 0, locked_until = NULL, \
         updated_at = now() WHERE id = $1 AND password_hash IS NOT DISTINCT FROM $2",
    )
    .bind(user)
    .bind(checked)
    .bind(hash)
    .execute(conn)
    .await?
    .rows_affected();
    if done == 1 {
        Ok(())
    } else {
        Err(problems::PASSWORD_CHANGED_MEANWHILE
            .with("the password was changed at the same moment; sign in again"))
    }
}
