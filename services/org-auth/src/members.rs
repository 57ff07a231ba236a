//! An organisation's members: listed for its members; their role and permissions changed,
//! their removal (which ends their sessions there) and an early end of their login lockout,
//! by its admins. The last admin can be neither demoted nor removed.
use axum::extract::{Path, State};
use kit::{
    Json, Origin, Problem, Timestamp, Uow,
    auth::Principal,
    contracts::events::v1,
    revocation::Reason,
    sqlx::PgConnection,
    store::Scope,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState, access,
    audit::Entry,
    problems,
    rules::{AccountStatus, Permissions, Role},
    sessions,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(unlock_member))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub joined_at: Timestamp,
    pub last_active: Option<Timestamp>,
    pub status: AccountStatus,
}

/// A member as the list reads it, with the organisation's pending invitations beside it.
#[derive(sqlx::FromRow)]
struct ListedMember {
    #[sqlx(flatten)]
    member: Member,
    pending_invitations: i64,
}

/// The members in the order they joined, each row with the count of pending invitations, and
/// only when `$2` is a member of `$1` (or `$2` is NULL): the caller's membership, the page and
/// the count in one round trip. No organisation filter is needed for safety (RLS scopes it);
/// it is here for the plan.
const LIST: &str = "SELECT u.id AS user_id, u.email, u.full_name, m.role, m.permissions, \
       m.created_at AS joined_at, m.last_active_at AS last_active, u.account_status AS status, \
       (SELECT count(*) FROM invitations i WHERE i.organization_id = $1 AND i.status = 'sent' \
          AND i.expires_at > now()) AS pending_invitations \
  FROM team_memberships m JOIN users u ON u.id = m.user_id \
 WHERE m.organization_id = $1 \
   AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM team_memberships c \
                                     WHERE c.organization_id = $1 AND c.user_id = $2)) \
 ORDER BY m.created_at";

/// Invitations sent to `org` and not yet accepted or expired.
async fn pending_invitations(conn: &mut PgConnection, org: Uuid) -> Result<i64, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM invitations WHERE organization_id = $1 AND status = 'sent' AND expires_at > now()",
    )
    .bind(org)
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Members {
    pub organization_id: Uuid,
    pub members: Vec<Member>,
    pub total_members: usize,
    /// Invitations sent and not yet accepted or expired.
    pub pending_invitations: i64,
}

/// The organisation's members, for its members.
#[utoipa::path(get, path = "/api/v1/organizations/{org_id}/members", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Members), (status = 404, body = kit::ProblemBody)))]
async fn list_members(
    State(s): State<AppState>,
    p: Principal,
    Path(org): Path<Uuid>,
) -> Result<Json<Members>, Problem> {
    let mut read = access::member_read(&s, &p, org).await?;
    let rows: Vec<ListedMember> = sqlx::query_as(LIST)
        .bind(org)
        .bind(read.member)
        .fetch_all(&mut *read.uow)
        .await?;
    read.confirm(&s, !rows.is_empty())?;
    // A member is among the rows, so only a platform admin can find none: the count then
    // has no row to ride on.
    let pending_invitations = match rows.first() {
        Some(r) => r.pending_invitations,
        None => pending_invitations(&mut read.uow, org).await?,
    };
    read.uow.commit().await?;
    let members: Vec<Member> = rows.into_iter().map(|r| r.member).collect();
    Ok(Json(Members {
        organization_id: org,
        total_members: members.len(),
        members,
        pending_invitations,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub permissions: Option<Permissions>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberUpdated {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub role: Role,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub updated_at: Timestamp,
    pub updated_by: Uuid,
}

/// A membership as stored.
#[derive(sqlx::FromRow)]
struct Membership {
    role: Role,
    permissions: Value,
}

impl Membership {
    /// `user`'s membership of `org`, row-locked while it changes; 404 when not a member.
    async fn lock(conn: &mut PgConnection, org: Uuid, user: Uuid) -> Result<Self, Problem> {
        sqlx::query_as("SELECT role, permissions FROM team_memberships WHERE organization_id = $1 AND user_id = $2 FOR UPDATE")
            .bind(org)
            .bind(user)
            .fetch_optional(conn)
            .await?
            .ok_or_else(|| Problem::not_found("member"))
    }

    /// Stores `role` and `permissions`; when they changed.
    async fn set(
        conn: &mut PgConnection,
        org: Uuid,
        user: Uuid,
        role: Role,
        permissions: &Value,
    ) -> Result<Timestamp, Problem> {
        Ok(sqlx::query_scalar(
            "UPDATE team_memberships SET role = $3, permissions = $4, updated_at = now() \
             WHERE organization_id = $1 AND user_id = $2 RETURNING updated_at",
        )
        .bind(org)
        .bind(user)
        .bind(role)
        .bind(permissions)
        .fetch_one(conn)
        .await?)
    }
}

/// Whether `org` has one admin or none (its admins row-locked, so concurrent demotions and
/// removals cannot both pass the check).
async fn is_last_admin(conn: &mut PgConnection, org: Uuid) -> Result<bool, Problem> {
    let admins: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM team_memberships WHERE organization_id = $1 AND role = 'admin' FOR UPDATE",
    )
    .bind(org)
    .fetch_all(conn)
    .await?;
    Ok(admins.len() <= 1)
}

/// Change a member's role or permissions (admins). The last admin cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/organizations/{org_id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = UpdateMember,
    responses((status = 200, body = MemberUpdated), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
async fn update_member(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path((org, user)): Path<(Uuid, Uuid)>,
    Json(req): Json<UpdateMember>,
) -> Result<Json<MemberUpdated>, Problem> {
    if req.role.is_none() && req.permissions.is_none() {
        return Err(Problem::invalid("body", "give role, permissions or both"));
    }
    // Who holds which role is the organisation's own decision, not a delegate's.
    p.require_own_token()?;
    let mut uow = access::admin(&s, &p, org).await?.from(&origin);
    let current = Membership::lock(&mut uow, org, user).await?;
    let role = req.role.unwrap_or(current.role);
    if current.role == Role::Admin && role != Role::Admin && is_last_admin(&mut uow, org).await? {
        return Err(problems::LAST_ADMIN.with("the organisation's last admin cannot be demoted"));
    }
    let permissions = match req.permissions {
        Some(p) => p.to_json(),
        None if role != current.role => Permissions::of(role).to_json(),
        None => current.permissions,
    };
    let updated_at = Membership::set(&mut uow, org, user, role, &permissions).await?;
    let event = v1::MemberRoleUpdated {
        organization_id: org.to_string(),
        user_id: user.to_string(),
        old_role: current.role.to_string(),
        new_role: role.to_string(),
        updated_by: p.user_id.to_string(),
    };
    uow.emit(org, user, &event).await?;
    let meta = json!({"old_role": current.role, "new_role": role});
    uow.audit(
        Entry::new("member_role_updated")
            .user(user)
            .by_actor()
            .meta(meta),
    )
    .await?;
    uow.commit().await?;
    Ok(Json(MemberUpdated {
        user_id: user,
        organization_id: org,
        role,
        permissions,
        updated_at,
        updated_by: p.user_id,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRemoved {
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub status: &'static str,
    pub removed_at: Timestamp,
    pub removed_by: Uuid,
    pub access_revoked: bool,
}

/// Remove a member (admins): their sessions in this organisation end at once. The last admin
/// cannot be removed.
#[utoipa::path(delete, path = "/api/v1/organizations/{org_id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = MemberRemoved), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
async fn remove_member(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path((org, user)): Path<(Uuid, Uuid)>,
) -> Result<Json<MemberRemoved>, Problem> {
    p.require_own_token()?;
    let mut uow = access::admin(&s, &p, org).await?.from(&origin);
    let current = Membership::lock(&mut uow, org, user).await?;
    if current.role == Role::Admin && is_last_admin(&mut uow, org).await? {
        return Err(problems::LAST_ADMIN.with("the organisation's last admin cannot be removed"));
    }
    sqlx::query("DELETE FROM team_memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(&mut *uow)
        .await?;
    let event = v1::MemberRemoved {
        organization_id: org.to_string(),
        user_id: user.to_string(),
        removed_by: p.user_id.to_string(),
    };
    uow.emit(org, user, &event).await?;
    uow.audit(Entry::new("member_removed").user(user).by_actor())
        .await?;
    end_sessions(&mut uow, &s, user, org).await?;
    uow.commit().await?;
    Ok(Json(MemberRemoved {
        organization_id: org,
        user_id: user,
        status: "removed",
        removed_at: Timestamp::now(),
        removed_by: p.user_id,
        access_revoked: true,
    }))
}

/// A removed member's sessions in `org` end, and `org` is no longer its primary one. Refresh
/// tokens are credential data, reachable only in the service's own scope: the unit of work
/// continues there, so the removal and the revocation commit together.
async fn end_sessions(uow: &mut Uow, s: &AppState, user: Uuid, org: Uuid) -> Result<(), Problem> {
    uow.set_scope(Scope::system()).await?;
    s.revoking
        .end_user(uow, user, Some(org), Reason::MemberRemoved)
        .await?;
    sqlx::query("UPDATE users SET organization_id = NULL WHERE id = $1 AND organization_id = $2")
        .bind(user)
        .bind(org)
        .execute(&mut **uow)
        .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unlocked {
    pub user_id: Uuid,
    pub unlocked: bool,
}

/// Lift a member's login lockout before its 15 minutes are over (organisation admins; platform
/// admins for any member).
#[utoipa::path(post, path = "/api/v1/organizations/{org_id}/members/{user_id}/unlock", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = Unlocked), (status = 403, body = kit::ProblemBody), (status = 404, body = kit::ProblemBody)))]
async fn unlock_member(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path((org, user)): Path<(Uuid, Uuid)>,
) -> Result<Json<Unlocked>, Problem> {
    let mut uow = access::admin(&s, &p, org).await?.from(&origin);
    if !is_member(&mut uow, org, user).await? {
        return Err(Problem::not_found("member"));
    }
    let unlocked = sessions::unlock(&mut uow, user).await?;
    uow.audit(Entry::new("account_unlocked").user(user).by_actor())
        .await?;
    uow.commit().await?;
    Ok(Json(Unlocked {
        user_id: user,
        unlocked,
    }))
}

async fn is_member(conn: &mut PgConnection, org: Uuid, user: Uuid) -> Result<bool, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM team_memberships WHERE organization_id = $1 AND user_id = $2)",
    )
    .bind(org)
    .bind(user)
    .fetch_one(conn)
    .await?)
}
