//! The caller's access to an organisation: a unit of work in the organisation's scope, for a
//! member of it (or a platform admin). Another organisation's id answers 404, exactly like one
//! that does not exist. Reads get a read-only unit; the member's activity is noted in memory
//! and written by a job (`activity`), so no read writes.
use kit::{Problem, Uow, auth::Principal, store::Scope};
use uuid::Uuid;

use crate::AppState;

/// Whether the unit will write: reads run in read-only transactions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

/// 403 unless the caller is a platform admin (what the platform's operators alone may do).
pub(crate) fn platform_admin(p: &Principal) -> Result<(), Problem> {
    if p.is_platform_admin() {
        Ok(())
    } else {
        Err(Problem::forbidden("only a platform admin may do this"))
    }
}

/// A caller that is a platform admin, checked before the body is read (anyone else learns
/// nothing, not even what the body should hold).
pub(crate) struct PlatformAdmin(pub Principal);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PlatformAdmin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &S,
    ) -> Result<Self, Problem> {
        let p = Principal::from_request_parts(parts, s).await?;
        platform_admin(&p)?;
        Ok(PlatformAdmin(p))
    }
}

/// A read-only unit of work for a member of `org` (any role).
pub(crate) async fn member(s: &AppState, p: &Principal, org: Uuid) -> Result<Uow, Problem> {
    Ok(enter(s, p, org, Mode::Read).await?.0)
}

/// A unit of work for an admin of `org` (or a platform admin); 403 for other members.
pub(crate) async fn admin(s: &AppState, p: &Principal, org: Uuid) -> Result<Uow, Problem> {
    admin_in(s, p, org, Mode::Write).await
}

/// [`admin`], read-only: for what only an admin may read.
pub(crate) async fn admin_reader(s: &AppState, p: &Principal, org: Uuid) -> Result<Uow, Problem> {
    admin_in(s, p, org, Mode::Read).await
}

async fn admin_in(s: &AppState, p: &Principal, org: Uuid, mode: Mode) -> Result<Uow, Problem> {
    let (uow, is_admin) = enter(s, p, org, mode).await?;
    if is_admin {
        Ok(uow)
    } else {
        Err(Problem::forbidden("only an organisation admin may do this"))
    }
}

/// Platform admins work in the organisation's context as agents; anyone else only in the
/// organisation of their token, in its client scope, and only as a member of it.
async fn enter(s: &AppState, p: &Principal, org: Uuid, mode: Mode) -> Result<(Uow, bool), Problem> {
    let open = |scope: Scope| async move {
        match mode {
            Mode::Read => s.db.read(scope).await,
            Mode::Write => s.db.begin(scope).await,
        }
    };
    if p.is_platform_admin() {
        return Ok((open(Scope::agent(Some(org))).await?.by(p), true));
    }
    if p.organization_id != Some(org) {
        return Err(Problem::not_found("organization"));
    }
    let mut uow = open(Scope::tenant(org)).await?.by(p);
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM team_memberships WHERE user_id = $1 AND organization_id = $2",
    )
    .bind(p.user_id)
    .bind(org)
    .fetch_optional(&mut *uow)
    .await?;
    let role = role.ok_or_else(|| Problem::not_found("organization"))?;
    s.activity.touch(p.user_id, org);
    Ok((uow, role == "admin"))
}
