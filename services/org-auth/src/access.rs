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

/// A read-only unit for a read whose own query checks the caller's membership, so the check
/// costs no round trip of its own: the query requires `member` to be a member of `org`
/// (`None`: a platform admin, who needs no membership) and the handler hands its verdict to
/// [`MemberRead::confirm`] before answering.
pub(crate) struct MemberRead {
    pub uow: Uow,
    /// The user the query must find among `org`'s members, if any.
    pub member: Option<Uuid>,
    org: Uuid,
}

impl MemberRead {
    /// 404 (as for an organisation that does not exist) unless the query found the caller a
    /// member; a member's activity is noted.
    pub fn confirm(&self, s: &AppState, found: bool) -> Result<(), Problem> {
        match self.member {
            None => Ok(()),
            Some(_) if !found => Err(Problem::not_found("organization")),
            Some(user) => {
                s.activity.touch(user, self.org);
                Ok(())
            }
        }
    }
}

/// [`member`] with the membership check left to the read's own query (see [`MemberRead`]).
pub(crate) async fn member_read(
    s: &AppState,
    p: &Principal,
    org: Uuid,
) -> Result<MemberRead, Problem> {
    let (uow, member) = open(s, p, org, Mode::Read).await?;
    Ok(MemberRead { uow, member, org })
}

/// Platform admins work in the organisation's context as agents; anyone else only in the
/// organisation of their token, in its client scope, and only as a member of it.
async fn enter(s: &AppState, p: &Principal, org: Uuid, mode: Mode) -> Result<(Uow, bool), Problem> {
    let (mut uow, member) = open(s, p, org, mode).await?;
    let Some(user) = member else {
        return Ok((uow, true));
    };
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM team_memberships WHERE user_id = $1 AND organization_id = $2",
    )
    .bind(user)
    .bind(org)
    .fetch_optional(&mut *uow)
    .await?;
    let role = role.ok_or_else(|| Problem::not_found("organization"))?;
    s.activity.touch(user, org);
    Ok((uow, role == "admin"))
}

/// The unit for `p` in `org` before any membership check: a platform admin's in the agent
/// scope of `org` (no member to check: `None`); anyone else's only in its token's
/// organisation, in its client scope (`Some`: the user whose membership is to be checked).
async fn open(
    s: &AppState,
    p: &Principal,
    org: Uuid,
    mode: Mode,
) -> Result<(Uow, Option<Uuid>), Problem> {
    let (scope, member) = if p.is_platform_admin() {
        (Scope::agent(Some(org)), None)
    } else if p.organization_id == Some(org) {
        (Scope::tenant(org), Some(p.user_id))
    } else {
        return Err(Problem::not_found("organization"));
    };
    let uow = match mode {
        Mode::Read => s.db.read(scope).await?,
        Mode::Write => s.db.begin(scope).await?,
    };
    Ok((uow.by(p), member))
}
