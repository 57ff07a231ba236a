//! The caller's access to an organisation: a unit of work in the organisation's scope, for a
//! member of it (or a platform admin). Another organisation's id answers 404, exactly like one
//! that does not exist.
use kit::{Problem, Uow, auth::Principal, store::Scope};
use uuid::Uuid;

use crate::AppState;

/// A unit of work for a member of `org` (any role), its last activity recorded.
pub(crate) async fn member(s: &AppState, p: &Principal, org: Uuid) -> Result<Uow, Problem> {
    Ok(enter(s, p, org).await?.0)
}

/// A unit of work for an admin of `org` (or a platform admin); 403 for other members.
pub(crate) async fn admin(s: &AppState, p: &Principal, org: Uuid) -> Result<Uow, Problem> {
    let (uow, is_admin) = enter(s, p, org).await?;
    if is_admin {
        Ok(uow)
    } else {
        Err(Problem::forbidden("only an organisation admin may do this"))
    }
}

/// Platform admins work in the organisation's context as agents; anyone else only in the
/// organisation of their token, in its client scope, and only as a member of it.
async fn enter(s: &AppState, p: &Principal, org: Uuid) -> Result<(Uow, bool), Problem> {
    if p.is_platform_admin() {
        return Ok((s.db.begin(Scope::agent(Some(org))).await?.by(p), true));
    }
    if p.organization_id != Some(org) {
        return Err(Problem::not_found("organization"));
    }
    let mut uow = s.db.begin(Scope::tenant(org)).await?.by(p);
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM team_memberships WHERE user_id = $1 AND organization_id = $2",
    )
    .bind(p.user_id)
    .bind(org)
    .fetch_optional(&mut *uow)
    .await?;
    let role = role.ok_or_else(|| Problem::not_found("organization"))?;
    sqlx::query("UPDATE team_memberships SET last_active_at = now() WHERE user_id = $1 AND organization_id = $2")
        .bind(p.user_id)
        .bind(org)
        .execute(&mut *uow)
        .await?;
    Ok((uow, role == "admin"))
}
