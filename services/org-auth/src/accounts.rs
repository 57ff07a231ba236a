//! Writes several resources share: an organisation and its members (created by a client, by
//! an agent for an assisted account, joined through an invitation) and single-use password
//! links (resets, an agent's first password).
use kit::{Problem, Timestamp, contracts::events::v1, sqlx::PgConnection};
use serde::Serialize;
use time::Duration;
use uuid::Uuid;

use crate::{
    rules::{self, Role},
    security,
};

/// A slug for `name` not taken yet (`acme-corp`, `acme-corp-2`, …). The unique constraint
/// (`organizations_slug_key`) settles a race between two creations.
pub(crate) async fn free_slug(conn: &mut PgConnection, name: &str) -> Result<String, Problem> {
    let base = rules::slugify(name);
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT slug FROM organizations WHERE slug = $1 OR slug LIKE $1 || '-%'",
    )
    .bind(&base)
    .fetch_all(conn)
    .await?;
    Ok(rules::first_free_slug(&base, &taken))
}

/// An organisation about to be created.
pub(crate) struct NewOrganization<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub slug: &'a str,
    pub website: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub company_size: Option<&'a str>,
    pub logo_url: Option<&'a str>,
    pub created_by: Uuid,
}

impl NewOrganization<'_> {
    /// Inserts it; its creation time. The error is the database's, for the caller to map
    /// (`organizations_slug_key`).
    pub async fn insert(&self, conn: &mut PgConnection) -> Result<Timestamp, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO organizations (id, name, slug, website, industry, company_size, logo_url, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at",
        )
        .bind(self.id)
        .bind(self.name)
        .bind(self.slug)
        .bind(self.website)
        .bind(self.industry)
        .bind(self.company_size)
        .bind(self.logo_url)
        .bind(self.created_by)
        .fetch_one(conn)
        .await
    }

    /// `organization_created`, with `admin` as the organisation's admin (research starts from it).
    pub fn created(&self, admin: Uuid) -> v1::OrganizationCreated {
        v1::OrganizationCreated {
            organization_id: self.id.to_string(),
            admin_user_id: admin.to_string(),
            industry: self.industry.unwrap_or_default().to_string(),
            name: self.name.to_string(),
            slug: self.slug.to_string(),
        }
    }
}

/// Makes `user` a member of `org` with `role` and `permissions`. The error is the database's
/// (`team_memberships_user_org_key` when already a member).
pub(crate) async fn add_member(
    conn: &mut PgConnection,
    user: Uuid,
    org: Uuid,
    role: Role,
    permissions: &(impl Serialize + Sync),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO team_memberships (id, user_id, organization_id, role, permissions) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(org)
    .bind(role)
    .bind(sqlx::types::Json(permissions))
    .execute(conn)
    .await?;
    Ok(())
}

/// What a password link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub(crate) enum PasswordPurpose {
    /// A reset the user asked for: valid one hour.
    Reset,
    /// An agent's first password: valid seven days.
    Initial,
}

impl PasswordPurpose {
    fn ttl(self) -> Duration {
        match self {
            PasswordPurpose::Reset => Duration::hours(1),
            PasswordPurpose::Initial => Duration::days(7),
        }
    }

    /// The audit action of a password set with such a link.
    pub fn audit_action(self) -> &'static str {
        match self {
            PasswordPurpose::Reset => "password_reset",
            PasswordPurpose::Initial => "password_set",
        }
    }
}

/// Creates a single-use password token for `user`; returns the link that carries it.
pub(crate) async fn password_link(
    conn: &mut PgConnection,
    app_url: &str,
    user: Uuid,
    purpose: PasswordPurpose,
) -> Result<String, Problem> {
    let token = security::random_token(32);
    sqlx::query(
        "INSERT INTO password_tokens (id, user_id, token_hash, purpose, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(security::digest(&token))
    .bind(purpose)
    .bind(Timestamp::now() + purpose.ttl())
    .execute(conn)
    .await?;
    Ok(format!("{app_url}/reset-password?token={token}"))
}
