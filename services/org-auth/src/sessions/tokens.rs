//! Access and refresh tokens, and the user rows sessions are made for. Access tokens are
//! short-lived RS256 JWTs; refresh tokens are opaque, stored as digests, rotated on every use,
//! and grouped in families so that replaying a rotated token (a sign of theft) revokes the
//! whole family.
use kit::{Problem, Timestamp, Uow, auth::Claims, sqlx::PgConnection};
use serde::Serialize;
use time::Duration;
use uuid::Uuid;

use crate::{
    AppState,
    rules::{AccountStatus, Role, UserKind},
    security,
};

pub const REFRESH_DAYS: i64 = 30;

/// A user as sessions need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub user_type: UserKind,
    pub organization_id: Option<Uuid>,
    pub role: String,
    pub email_verified: bool,
    pub account_status: AccountStatus,
    pub password_hash: Option<String>,
    pub locked_until: Option<Timestamp>,
    pub agent_id: Option<Uuid>,
    pub mfa_enabled: bool,
}

impl User {
    /// Locked after repeated failed sign-ins, until `locked_until`.
    pub fn is_locked(&self) -> bool {
        self.locked_until.is_some_and(|t| t > Timestamp::now())
    }
}

/// The columns of a [`User`], by name (a literal, so queries stay literal SQL).
macro_rules! user_columns {
    () => {
        "id, email, full_name, user_type, organization_id, role, email_verified, account_status, \
         password_hash, locked_until, agent_id, mfa_enabled"
    };
}

pub async fn load_user(conn: &mut PgConnection, id: Uuid) -> Result<Option<User>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn load_user_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<User>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE lower(email) = lower($1)"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

/// One organisation of a user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct OrgMembership {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub role: Role,
    pub slug: String,
    #[serde(skip)]
    pub permissions: serde_json::Value,
}

pub async fn memberships(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<Vec<OrgMembership>, Problem> {
    Ok(sqlx::query_as(
        "SELECT m.organization_id, o.name AS organization_name, o.slug, m.role, m.permissions \
         FROM team_memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 ORDER BY m.created_at",
    )
    .bind(user)
    .fetch_all(conn)
    .await?)
}

/// Tokens handed to a client.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// Chooses the organisation a token acts in: the requested one if the user is a member,
/// else the primary one, else the first.
pub fn pick_org(
    orgs: &[OrgMembership],
    wanted: Option<Uuid>,
    primary: Option<Uuid>,
) -> Option<&OrgMembership> {
    wanted
        .and_then(|w| orgs.iter().find(|o| o.organization_id == w))
        .or_else(|| primary.and_then(|p| orgs.iter().find(|o| o.organization_id == p)))
        .or_else(|| orgs.first())
}

/// An agent's role set as human-agent last published it (see `agent_roles`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleSet {
    pub primary_role: String,
    pub roles: Vec<String>,
    pub is_active: bool,
}

impl RoleSet {
    /// The roles a token carries: the primary one first, then the others; none once the
    /// agent is deactivated.
    pub fn held(&self) -> Vec<&str> {
        if !self.is_active {
            return Vec::new();
        }
        let others = self.roles.iter().filter(|r| **r != self.primary_role);
        std::iter::once(self.primary_role.as_str())
            .chain(others.map(String::as_str))
            .collect()
    }
}

/// The role set of `agent`, if human-agent has published one.
pub async fn role_set(conn: &mut PgConnection, agent: Uuid) -> Result<Option<RoleSet>, Problem> {
    Ok(
        sqlx::query_as(
            "SELECT primary_role, roles, is_active FROM agent_roles WHERE agent_id = $1",
        )
        .bind(agent)
        .fetch_optional(conn)
        .await?,
    )
}

/// The roles an agent's token carries: its published set, else the role its login was made
/// with.
fn agent_roles<'a>(user: &'a User, set: Option<&'a RoleSet>) -> Vec<&'a str> {
    match set {
        Some(s) => s.held(),
        None => vec![user.role.as_str()],
    }
}

fn claims_for(user: &User, org: Option<&OrgMembership>, set: Option<&RoleSet>) -> Claims {
    let mut c = if user.user_type == UserKind::Agent {
        let mut c = Claims::agent(
            user.id,
            user.agent_id.unwrap_or(user.id),
            &agent_roles(user, set),
        );
        c.organization_id = None;
        c
    } else {
        let mut c = Claims::client(
            user.id,
            org.map(|o| o.organization_id),
            org.map(|o| o.role.as_str()).unwrap_or_default(),
        );
        if let Some(serde_json::Value::Object(p)) = org.map(|o| &o.permissions) {
            for (service, actions) in p {
                if let Some(a) = actions.as_array() {
                    c.permissions.insert(
                        service.clone(),
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect(),
                    );
                }
            }
        }
        c
    };
    c.email = Some(user.email.clone());
    c
}

/// Issues an access token and a new refresh token (in `family`, or a new family), recorded
/// with the unit of work's origin. An agent's token carries its current role set; a
/// deactivated agent gets none.
pub async fn issue(
    uow: &mut Uow,
    s: &AppState,
    user: &User,
    org: Option<&OrgMembership>,
    family: Option<Uuid>,
) -> Result<Tokens, Problem> {
    let set = match (user.user_type, user.agent_id) {
        (UserKind::Agent, Some(agent)) => role_set(uow, agent).await?,
        _ => None,
    };
    if set.as_ref().is_some_and(|s| !s.is_active) {
        return Err(Problem::forbidden("this agent account is deactivated"));
    }
    let family = family.unwrap_or_else(Uuid::now_v7);
    let mut claims = claims_for(user, org, set.as_ref());
    // The refresh family is the access token's session: revoking it refuses the token.
    claims.sid = Some(family);
    let access_token = s.signer.issue(claims)?;
    let refresh_token = security::random_token(32);
    let origin = uow.origin().clone();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, organization_id, token_hash, expires_at, ip_address, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(family)
    .bind(user.id)
    .bind(org.map(|o| o.organization_id))
    .bind(security::digest(&refresh_token))
    .bind(Timestamp::now() + Duration::days(REFRESH_DAYS))
    .bind(&origin.ip)
    .bind(&origin.user_agent)
    .execute(&mut **uow)
    .await?;
    Ok(Tokens {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: i64::try_from(s.signer.ttl().as_secs()).unwrap_or(900),
    })
}

/// The outcome of presenting a refresh token.
pub enum Presented {
    /// Valid: rotated; the caller issues the next one in `family`.
    Valid {
        user: Uuid,
        org: Option<Uuid>,
        family: Uuid,
    },
    /// A rotated token came back: the family is now revoked.
    Reused {
        user: Uuid,
        family: Uuid,
    },
    Invalid,
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: Uuid,
    family_id: Uuid,
    user_id: Uuid,
    organization_id: Option<Uuid>,
    expires_at: Timestamp,
    rotated_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

/// Serialises the rotation of a user's refresh tokens against the revocation of its sign-ins.
/// A rotation works under its token's row lock, but a revocation's `UPDATE` picks the user's
/// tokens from a snapshot taken when it starts: a rotation committing meanwhile would leave its
/// new token outside that snapshot, live after the revocation. Rotations hold this lock shared
/// (a user's sign-ins refresh side by side); a revocation holds it exclusively, so it waits for
/// the rotations in flight and then sees their tokens, and a rotation starting later finds its
/// token revoked. Both sides take it before any refresh-token row lock, so they cannot
/// deadlock; it is an advisory lock, so it never conflicts with writes to the user's row.
pub async fn lock_sessions(
    conn: &mut PgConnection,
    user: Uuid,
    exclusive: bool,
) -> Result<(), Problem> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock(hashtextextended('org-auth.sessions:' || $1::text, 0))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtextextended('org-auth.sessions:' || $1::text, 0))"
    };
    sqlx::query(sql).bind(user).execute(conn).await?;
    Ok(())
}

/// Checks and rotates a refresh token (row-locked, so two concurrent uses cannot both win;
/// under the user's sessions lock, shared, so a revocation in flight cannot miss the new one).
pub async fn present(conn: &mut PgConnection, token: &str) -> Result<Presented, Problem> {
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(security::digest(token))
            .fetch_optional(&mut *conn)
            .await?;
    let Some(owner) = owner else {
        return Ok(Presented::Invalid);
    };
    lock_sessions(conn, owner, false).await?;
    let row: Option<RefreshRow> = sqlx::query_as(
        "SELECT id, family_id, user_id, organization_id, expires_at, rotated_at, revoked_at \
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(security::digest(token))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(Presented::Invalid);
    };
    if r.rotated_at.is_some() {
        revoke_family(conn, r.family_id, "reuse_detected").await?;
        return Ok(Presented::Reused {
            user: r.user_id,
            family: r.family_id,
        });
    }
    if r.revoked_at.is_some() || r.expires_at <= Timestamp::now() {
        return Ok(Presented::Invalid);
    }
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1")
        .bind(r.id)
        .execute(&mut *conn)
        .await?;
    Ok(Presented::Valid {
        user: r.user_id,
        org: r.organization_id,
        family: r.family_id,
    })
}

pub async fn revoke_family(
    conn: &mut PgConnection,
    family: Uuid,
    reason: &str,
) -> Result<u64, Problem> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2 \
         WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(reason)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Revokes every refresh token of `user` (all organisations, or one), but those of the
/// sign-in `keep`.
pub async fn revoke_user(
    conn: &mut PgConnection,
    user: Uuid,
    org: Option<Uuid>,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, Problem> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR organization_id = $2) \
           AND ($4::uuid IS NULL OR family_id <> $4)",
    )
    .bind(user)
    .bind(org)
    .bind(reason)
    .bind(keep)
    .execute(conn)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_token_carries_its_published_roles_primary_first() {
        let set = RoleSet {
            primary_role: "sales_agent".into(),
            roles: vec!["ai_supervisor".into(), "sales_agent".into()],
            is_active: true,
        };
        assert_eq!(set.held(), ["sales_agent", "ai_supervisor"]);
        let gone = RoleSet {
            is_active: false,
            ..set
        };
        assert!(gone.held().is_empty());
    }
}
