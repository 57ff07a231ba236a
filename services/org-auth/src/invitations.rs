//! Invitations: an organisation's admins invite someone by email (a link valid 7 days); the
//! invited person accepts with the link's secret, creating an account (the invited, thereby
//! verified, email) or — already having one — signed in as it.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Origin, Problem, Timestamp, Uow,
    auth::OptionalPrincipal,
    contracts::events::v1,
    input::{Email, OptText},
    sqlx::PgConnection,
    store::ConstraintExt,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState, access, accounts,
    audit::Entry,
    limits, mail, problems,
    rules::{self, Permissions, Role},
    security,
    sessions::{self, Session},
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invitation))
        .routes(routes!(accept_invitation))
}

const INVITATION_TTL: Duration = Duration::days(7);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: Email,
    pub role: Role,
    /// Custom permissions, e.g. `{"prd_builder": ["read", "write"], "research": ["read"]}`;
    /// the role's defaults when absent.
    #[serde(default)]
    pub permissions: Option<Permissions>,
    #[serde(default)]
    #[schema(inline)]
    pub custom_message: OptText<1000>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation_id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: &'static str,
    pub invitation_link: String,
    pub expires_at: Timestamp,
    pub created_by: Uuid,
    pub created_at: Timestamp,
}

/// Invite someone to the organisation (admins); they get an email with a link valid 7 days.
#[utoipa::path(post, path = "/api/v1/organizations/{org_id}/invitations", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path)), request_body = CreateInvitation,
    responses((status = 201, body = InvitationCreated), (status = 409, body = kit::ProblemBody)))]
async fn create_invitation(
    State(s): State<AppState>,
    p: kit::auth::Principal,
    origin: Origin,
    Path(org): Path<Uuid>,
    Json(req): Json<CreateInvitation>,
) -> Result<(StatusCode, Json<InvitationCreated>), Problem> {
    let permissions = req.permissions.unwrap_or_else(|| Permissions::of(req.role));
    let mut uow = access::admin(&s, &p, org).await?.from(&origin);
    limits::INVITATIONS.spend(&s, &org.to_string()).await?;
    if is_member(&mut uow, org, &req.email).await? {
        return Err(problems::ALREADY_MEMBER.with("this person is already a member"));
    }
    // An expired pending invitation gives way to the new one.
    sqlx::query("UPDATE invitations SET status = 'revoked' WHERE organization_id = $1 AND lower(email) = $2 AND status = 'sent' AND expires_at <= now()")
        .bind(org)
        .bind(&*req.email)
        .execute(&mut *uow)
        .await?;
    let (id, token) = (Uuid::now_v7(), security::random_token(32));
    let expires_at = Timestamp::now() + INVITATION_TTL;
    let created_at: Timestamp = sqlx::query_scalar(
        "INSERT INTO invitations (id, organization_id, email, role, permissions, custom_message, token_hash, expires_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING created_at",
    )
    .bind(id)
    .bind(org)
    .bind(&*req.email)
    .bind(req.role)
    .bind(sqlx::types::Json(&permissions))
    .bind(req.custom_message.as_deref())
    .bind(security::digest(&token))
    .bind(expires_at)
    .bind(p.user_id)
    .fetch_one(&mut *uow)
    .await
    .on_constraint("invitations_pending_email", || {
        problems::INVITATION_PENDING.with("an invitation for this email is already pending")
    })?;
    let event = v1::MemberInvited {
        organization_id: org.to_string(),
        invitation_id: id.to_string(),
        invited_email: req.email.to_string(),
        invited_by: p.user_id.to_string(),
        role: req.role.to_string(),
    };
    uow.emit(org, id, &event).await?;
    let meta = json!({"email": req.email, "role": req.role});
    let entry = Entry::new("member_invited")
        .by_actor()
        .resource("invitation", id);
    uow.audit(entry.meta(meta)).await?;
    let org_name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(org)
        .fetch_one(&mut *uow)
        .await?;
    let link = format!("{}/invite/{id}?token={token}", s.app_url);
    let note = req.custom_message.as_deref();
    let invitation = mail::invitation(&req.email, &org_name, &link, note, &expires_at.to_string());
    s.mail.after_commit(&mut uow, invitation);
    uow.commit().await?;
    let answer = InvitationCreated {
        invitation_id: id,
        email: req.email.into_inner(),
        role: req.role,
        status: "sent",
        invitation_link: link,
        expires_at,
        created_by: p.user_id,
        created_at,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn is_member(conn: &mut PgConnection, org: Uuid, email: &str) -> Result<bool, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM team_memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.organization_id = $1 AND lower(u.email) = $2)",
    )
    .bind(org)
    .bind(email)
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The secret from the invitation link.
    pub token: String,
    /// For a new account: the name and password to create it with.
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationAccepted {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub role: Role,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub dashboard_url: String,
    /// Tokens, or the MFA step the sign-in owes (MFA on, or required by an organisation).
    #[serde(flatten)]
    pub session: Session,
}

/// A pending invitation, locked while it is accepted.
#[derive(sqlx::FromRow)]
struct Pending {
    organization_id: Uuid,
    email: String,
    role: Role,
    permissions: Value,
}

/// Accept an invitation: creates the account (with the invited, thereby verified, email) or,
/// for someone who already has one, adds the membership — then they must be signed in as it.
#[utoipa::path(post, path = "/api/v1/invitations/{invitation_id}/accept", tag = "organizations",
    params(("invitation_id" = Uuid, Path)), request_body = AcceptInvitation,
    responses((status = 200, body = InvitationAccepted), (status = 400, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody)))]
async fn accept_invitation(
    State(s): State<AppState>,
    OptionalPrincipal(p): OptionalPrincipal,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(req): Json<AcceptInvitation>,
) -> Result<Json<InvitationAccepted>, Problem> {
    let invalid =
        || problems::INVITATION_INVALID.with("the invitation is invalid, already used or expired");
    if req.token.len() > 128 {
        return Err(invalid());
    }
    let mut uow = s.db.system().await?.from(&origin);
    let inv: Pending = sqlx::query_as(
        "SELECT organization_id, email, role, permissions FROM invitations \
         WHERE id = $1 AND token_hash = $2 AND status = 'sent' AND expires_at > now() FOR UPDATE",
    )
    .bind(id)
    .bind(security::digest(&req.token))
    .fetch_optional(&mut *uow)
    .await?
    .ok_or_else(invalid)?;
    let org = inv.organization_id;
    let user_id = match sessions::load_user_by_email(&mut uow, &inv.email).await? {
        Some(u) if p.as_ref().map(|p| p.user_id) == Some(u.id) => u.id,
        Some(_) => {
            return Err(problems::SIGN_IN_TO_ACCEPT
                .with("an account exists for this email: sign in as it, then accept"));
        }
        None => create_account(&mut uow, &inv, req).await?,
    };
    join(&mut uow, id, user_id, &inv).await?;
    let event = v1::MemberJoined {
        organization_id: org.to_string(),
        user_id: user_id.to_string(),
        role: inv.role.to_string(),
    };
    uow.emit(org, user_id, &event).await?;
    let entry = Entry::new("member_joined").org(Some(org)).user(user_id);
    uow.audit(entry.resource("invitation", id)).await?;
    let user = sessions::load_user(&mut uow, user_id)
        .await?
        .ok_or_else(invalid)?;
    let orgs = sessions::memberships(&mut uow, user_id).await?;
    let acting = sessions::pick_org(&orgs, Some(org), None);
    let session = sessions::sign_in(&mut uow, &s, &user, acting).await?;
    let (org_name, slug): (String, String) =
        sqlx::query_as("SELECT name, slug FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_one(&mut *uow)
            .await?;
    let dashboard_url = format!("{}/{slug}", s.app_url);
    let welcome = mail::welcome(&user.email, &user.full_name, &org_name, &dashboard_url);
    s.mail.after_commit(&mut uow, welcome);
    uow.commit().await?;
    Ok(Json(InvitationAccepted {
        user_id,
        organization_id: org,
        role: inv.role,
        permissions: inv.permissions,
        dashboard_url,
        session,
    }))
}

/// The account of someone invited who has none: the invited email, verified by the link.
async fn create_account(
    uow: &mut Uow,
    inv: &Pending,
    req: AcceptInvitation,
) -> Result<Uuid, Problem> {
    let name = rules::new_account_name("full_name", req.full_name.as_deref())?;
    let password = req
        .password
        .ok_or_else(|| Problem::invalid("password", "is required for a new account"))?;
    rules::password_policy("password", &password, &inv.email)?;
    let hash = security::hash_password(password).await?;
    let user = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, full_name, user_type, organization_id, role, email_verified) \
         VALUES ($1, $2, $3, $4, 'client', $5, $6, true)",
    )
    .bind(user)
    .bind(&inv.email)
    .bind(&hash)
    .bind(&name)
    .bind(inv.organization_id)
    .bind(inv.role)
    .execute(&mut **uow)
    .await?;
    Ok(user)
}

/// The membership the invitation grants; the invitation is used; a first organisation
/// becomes the user's primary one.
async fn join(uow: &mut Uow, id: Uuid, user: Uuid, inv: &Pending) -> Result<(), Problem> {
    let org = inv.organization_id;
    accounts::add_member(uow, user, org, inv.role, &inv.permissions)
        .await
        .on_constraint("team_memberships_user_org_key", || {
            problems::ALREADY_MEMBER.with("already a member of this organisation")
        })?;
    sqlx::query("UPDATE invitations SET status = 'accepted', accepted_at = now(), accepted_user_id = $2 WHERE id = $1")
        .bind(id)
        .bind(user)
        .execute(&mut **uow)
        .await?;
    sqlx::query("UPDATE users SET organization_id = coalesce(organization_id, $2), updated_at = now() WHERE id = $1")
        .bind(user)
        .bind(org)
        .execute(&mut **uow)
        .await?;
    Ok(())
}
