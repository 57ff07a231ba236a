//! Access and refresh tokens. Access tokens are short-lived RS256 JWTs; refresh tokens are
//! opaque, stored as digests, rotated on every use, and grouped in families so that replaying
//! a rotated token (a sign of theft) revokes the whole family.
use kit::{Problem, auth::Claims, store::Tx};
use serde::Serialize;
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{AppState, audit::Origin, security};

pub const REFRESH_DAYS: i64 = 30;

/// A user as sessions need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub user_type: String,
    pub organization_id: Option<Uuid>,
    pub role: String,
    pub email_verified: bool,
    pub account_status: String,
    pub password_hash: Option<String>,
    pub locked_until: Option<OffsetDateTime>,
    pub agent_id: Option<Uuid>,
    pub mfa_enabled: bool,
}

pub const USER_COLUMNS: &str = "id, email, full_name, user_type, organization_id, role, \
    email_verified, account_status, password_hash, locked_until, agent_id, mfa_enabled";

/// One organisation of a user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgMembership {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub role: String,
    pub slug: String,
    #[serde(skip)]
    pub permissions: serde_json::Value,
}

pub async fn memberships(tx: &mut Tx, user: Uuid) -> Result<Vec<OrgMembership>, Problem> {
    let rows = sqlx::query(
        "SELECT m.organization_id, o.name, o.slug, m.role, m.permissions FROM team_memberships m \
         JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = $1 ORDER BY m.created_at",
    )
    .bind(user)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OrgMembership {
            organization_id: r.get(0),
            organization_name: r.get(1),
            slug: r.get(2),
            role: r.get(3),
            permissions: r.get(4),
        })
        .collect())
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

fn claims_for(user: &User, org: Option<&OrgMembership>) -> Claims {
    let mut c = if user.user_type == "agent" {
        let mut c = Claims::agent(
            user.id,
            user.agent_id.unwrap_or(user.id),
            &[user.role.as_str()],
        );
        c.organization_id = None;
        c
    } else {
        let mut c = Claims::client(
            user.id,
            org.map(|o| o.organization_id),
            org.map(|o| o.role.clone()).unwrap_or_default(),
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

/// Issues an access token and a new refresh token (in `family`, or a new family).
pub async fn issue(
    tx: &mut Tx,
    state: &AppState,
    user: &User,
    org: Option<&OrgMembership>,
    family: Option<Uuid>,
    origin: &Origin,
) -> Result<Tokens, Problem> {
    let access_token = state.signer.issue(claims_for(user, org))?;
    let refresh_token = security::random_token(32);
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, organization_id, token_hash, expires_at, ip_address, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(family.unwrap_or_else(Uuid::now_v7))
    .bind(user.id)
    .bind(org.map(|o| o.organization_id))
    .bind(security::digest(&refresh_token))
    .bind(OffsetDateTime::now_utc() + Duration::days(REFRESH_DAYS))
    .bind(&origin.ip)
    .bind(&origin.user_agent)
    .execute(&mut **tx)
    .await?;
    Ok(Tokens {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: i64::try_from(state.signer.ttl().as_secs()).unwrap_or(900),
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
    },
    Invalid,
}

/// Checks and rotates a refresh token (row-locked, so two concurrent uses cannot both win).
pub async fn present(tx: &mut Tx, token: &str) -> Result<Presented, Problem> {
    let row = sqlx::query(
        "SELECT id, family_id, user_id, organization_id, expires_at, rotated_at, revoked_at \
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(security::digest(token))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else {
        return Ok(Presented::Invalid);
    };
    let (id, family, user): (Uuid, Uuid, Uuid) = (r.get(0), r.get(1), r.get(2));
    let rotated: Option<OffsetDateTime> = r.get(5);
    let revoked: Option<OffsetDateTime> = r.get(6);
    if rotated.is_some() {
        revoke_family(tx, family, "reuse_detected").await?;
        return Ok(Presented::Reused { user });
    }
    let expires: OffsetDateTime = r.get(4);
    if revoked.is_some() || expires <= OffsetDateTime::now_utc() {
        return Ok(Presented::Invalid);
    }
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(Presented::Valid {
        user,
        org: r.get(3),
        family,
    })
}

pub async fn revoke_family(tx: &mut Tx, family: Uuid, reason: &str) -> Result<u64, Problem> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2 \
         WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(reason)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Revokes every refresh token of `user` (all organisations, or one).
pub async fn revoke_user(
    tx: &mut Tx,
    user: Uuid,
    org: Option<Uuid>,
    reason: &str,
) -> Result<u64, Problem> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR organization_id = $2)",
    )
    .bind(user)
    .bind(org)
    .bind(reason)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

pub async fn load_user(tx: &mut Tx, id: Uuid) -> Result<Option<User>, Problem> {
    Ok(sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?)
}

pub async fn load_user_by_email(tx: &mut Tx, email: &str) -> Result<Option<User>, Problem> {
    Ok(sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)"
    )))
    .bind(email)
    .fetch_optional(&mut **tx)
    .await?)
}
