//! Organisations, invitations, members and the audit log.
use axum::{
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use kit::{
    ClientIp, Json, Problem, UserAgent,
    auth::{OptionalPrincipal, Principal},
    cache::{Limit, Subject},
    contracts::events::v1,
    store::{self, ConstraintExt, Scope, Tx, outbox},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState, SOURCE,
    audit::{self, Entry, Origin},
    mail, now_rfc3339, rfc3339, security,
    sessions::{self, Tokens},
};

const ROLES: &[&str] = &["admin", "member", "viewer"];
/// Services and actions a membership's permissions may name.
const SERVICES: &[&str] = &[
    "prd_builder",
    "research",
    "demos",
    "analytics",
    "ndas",
    "pricing",
    "proposals",
    "support",
    "feedback",
];
const ACTIONS: &[&str] = &["read", "write", "admin"];
const INVITATION_TTL: Duration = Duration::days(7);

/// The default permissions of a role (spec §0 examples).
pub(crate) fn default_permissions(role: &str) -> Value {
    let mut m = Map::new();
    for s in SERVICES {
        let actions: &[&str] = match (role, *s) {
            ("admin", "prd_builder") => &["read", "write", "admin"],
            ("admin", _) => &["read", "write"],
            ("member", "prd_builder") => &["read", "write"],
            _ => &["read"],
        };
        m.insert((*s).to_string(), json!(actions));
    }
    Value::Object(m)
}

fn check_role(field: &str, role: &str) -> Result<String, Problem> {
    if ROLES.contains(&role) {
        Ok(role.to_string())
    } else {
        Err(Problem::invalid(
            field,
            format!("must be one of {}", ROLES.join(", ")),
        ))
    }
}

/// Validates a permissions object: known services, known actions, no duplicates.
fn check_permissions(field: &str, p: &Value) -> Result<Value, Problem> {
    let obj = p
        .as_object()
        .ok_or_else(|| Problem::invalid(field, "must be an object of service → actions"))?;
    let mut out = Map::new();
    for (service, actions) in obj {
        if !SERVICES.contains(&service.as_str()) {
            return Err(Problem::invalid(
                format!("{field}.{service}"),
                format!("unknown service; known: {}", SERVICES.join(", ")),
            ));
        }
        let list = actions.as_array().ok_or_else(|| {
            Problem::invalid(format!("{field}.{service}"), "must be a list of actions")
        })?;
        let mut acts: Vec<&str> = Vec::new();
        for a in list {
            let a = a.as_str().filter(|a| ACTIONS.contains(a)).ok_or_else(|| {
                Problem::invalid(
                    format!("{field}.{service}"),
                    format!("actions are {}", ACTIONS.join(", ")),
                )
            })?;
            if !acts.contains(&a) {
                acts.push(a);
            }
        }
        out.insert(service.clone(), json!(acts));
    }
    Ok(Value::Object(out))
}

/// The caller's membership of `org`, in a transaction scoped to the caller's own organisation.
/// Another organisation's id answers 404, exactly like one that does not exist.
struct Access {
    tx: Tx,
    role: String,
}

async fn access(s: &AppState, p: &Principal, org: Uuid) -> Result<Access, Problem> {
    if p.is_platform_admin() {
        let tx = store::begin(&s.db, Scope::agent(Some(org))).await?;
        return Ok(Access {
            tx,
            role: "platform_admin".into(),
        });
    }
    if p.organization_id != Some(org) {
        return Err(Problem::not_found("organization"));
    }
    let mut tx = store::tenant_tx(&s.db, org).await?;
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM team_memberships WHERE user_id = $1 AND organization_id = $2",
    )
    .bind(p.user_id)
    .bind(org)
    .fetch_optional(&mut *tx)
    .await?;
    let role = role.ok_or_else(|| Problem::not_found("organization"))?;
    sqlx::query("UPDATE team_memberships SET last_active_at = now() WHERE user_id = $1 AND organization_id = $2")
        .bind(p.user_id)
        .bind(org)
        .execute(&mut *tx)
        .await?;
    Ok(Access { tx, role })
}

fn require_admin(a: &Access) -> Result<(), Problem> {
    if a.role == "admin" || a.role == "platform_admin" {
        Ok(())
    } else {
        Err(Problem::forbidden("only an organisation admin may do this"))
    }
}

/// `acme corp!` → `acme-corp`.
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(50).collect();
    if slug.len() < 2 {
        format!("org-{}", &Uuid::new_v4().simple().to_string()[..8])
    } else {
        slug
    }
}

/// A slug for `name` not taken yet (`acme-corp`, `acme-corp-2`, …). The unique constraint
/// settles a race between two creations.
pub(crate) async fn free_slug(tx: &mut Tx, name: &str) -> Result<String, Problem> {
    let base = slugify(name);
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT slug FROM organizations WHERE slug = $1 OR slug LIKE $1 || '-%'",
    )
    .bind(&base)
    .fetch_all(&mut **tx)
    .await?;
    Ok((1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|c| !taken.contains(c))
        .unwrap_or(base))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    pub organization_name: String,
    #[serde(default)]
    pub industry: Option<String>,
    /// e.g. `10-50`.
    #[serde(default)]
    pub company_size: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub logo_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationCreated {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub slug: String,
    pub admin_user_id: Uuid,
    pub created_at: String,
    pub onboarding_status: &'static str,
    pub dashboard_url: String,
    /// New tokens acting in the organisation.
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// Create an organisation; the creator becomes its admin.
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", request_body = CreateOrganization,
    security(("bearer" = [])),
    responses((status = 201, body = OrganizationCreated), (status = 422, body = kit::ProblemBody)))]
pub async fn create_organization(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationCreated>), Problem> {
    if p.is_agent() {
        return Err(Problem::forbidden(
            "agents create client organisations through assisted signup",
        ));
    }
    let name = security::text("organization_name", &req.organization_name, 2, 100)?;
    let industry = security::opt_text("industry", req.industry.as_deref(), 100)?;
    let size = security::opt_text("company_size", req.company_size.as_deref(), 20)?;
    let website = security::opt_url("website", req.website.as_deref())?;
    let logo = security::opt_url("logo_url", req.logo_url.as_deref())?;
    let origin = Origin::new(ip, ua);
    let org_id = Uuid::now_v7();

    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let user = sessions::load_user(&mut tx, p.user_id)
        .await?
        .filter(|u| u.email_verified)
        .ok_or_else(|| Problem::forbidden("verify your email address first"))?;
    let slug = free_slug(&mut tx, &name).await?;
    let created: OffsetDateTime = sqlx::query_scalar(
        "INSERT INTO organizations (id, name, slug, website, industry, company_size, logo_url, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at",
    )
    .bind(org_id)
    .bind(&name)
    .bind(&slug)
    .bind(&website)
    .bind(&industry)
    .bind(&size)
    .bind(&logo)
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await
    .on_constraint("organizations_slug_key", || Problem::conflict("an organisation with this name was just created; retry"))?;
    sqlx::query(
        "INSERT INTO team_memberships (id, user_id, organization_id, role, permissions) VALUES ($1, $2, $3, 'admin', $4)",
    )
    .bind(Uuid::now_v7())
    .bind(user.id)
    .bind(org_id)
    .bind(default_permissions("admin"))
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE users SET organization_id = coalesce(organization_id, $2), role = 'admin', updated_at = now() WHERE id = $1")
        .bind(user.id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    outbox::publish(
        &mut tx,
        SOURCE,
        org_id,
        org_id,
        &v1::OrganizationCreated {
            organization_id: org_id.to_string(),
            admin_user_id: user.id.to_string(),
            industry: industry.clone().unwrap_or_default(),
            name: name.clone(),
            slug: slug.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin,
        Entry::new("organization_created")
            .org(Some(org_id))
            .user(user.id)
            .resource("organization", org_id),
    )
    .await?;
    let orgs = sessions::memberships(&mut tx, user.id).await?;
    let tokens = sessions::issue(
        &mut tx,
        &s,
        &user,
        sessions::pick_org(&orgs, Some(org_id), None),
        None,
        &origin,
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok((
        StatusCode::CREATED,
        Json(OrganizationCreated {
            organization_id: org_id,
            organization_name: name,
            dashboard_url: format!("{}/{slug}", s.app_url),
            slug,
            admin_user_id: user.id,
            created_at: rfc3339(created),
            onboarding_status: "research_queued",
            tokens,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub slug: String,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<String>,
    pub logo_url: Option<String>,
    #[schema(value_type = Object)]
    pub settings: Value,
    #[schema(value_type = Object)]
    pub branding: Value,
    pub onboarding_status: String,
    pub created_at: String,
    pub updated_at: String,
}

async fn load_org(tx: &mut Tx, org: Uuid) -> Result<Organization, Problem> {
    let r = sqlx::query(
        "SELECT id, name, slug, website, industry, company_size, logo_url, settings, branding, onboarding_status, created_at, updated_at \
         FROM organizations WHERE id = $1",
    )
    .bind(org)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| Problem::not_found("organization"))?;
    Ok(Organization {
        organization_id: r.get(0),
        organization_name: r.get(1),
        slug: r.get(2),
        website: r.get(3),
        industry: r.get(4),
        company_size: r.get(5),
        logo_url: r.get(6),
        settings: r.get(7),
        branding: r.get(8),
        onboarding_status: r.get(9),
        created_at: rfc3339(r.get(10)),
        updated_at: rfc3339(r.get(11)),
    })
}

/// An organisation, for its members (and platform admins).
#[utoipa::path(get, path = "/api/v1/organizations/{org_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Organization), (status = 404, body = kit::ProblemBody)))]
pub async fn get_organization(
    State(s): State<AppState>,
    p: Principal,
    Path(org): Path<Uuid>,
) -> Result<Json<Organization>, Problem> {
    let mut a = access(&s, &p, org).await?;
    let o = load_org(&mut a.tx, org).await?;
    a.tx.commit().await.map_err(Problem::from)?;
    Ok(Json(o))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    pub organization_name: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<String>,
    pub logo_url: Option<String>,
    /// Settings, e.g. `{"mfa_required": true}`.
    #[schema(value_type = Object)]
    pub settings: Option<Value>,
    /// Branding: `logo_url`, `primary_color`, `secondary_color` (`#rrggbb`).
    #[schema(value_type = Object)]
    pub branding: Option<Value>,
}

fn check_branding(v: &Value) -> Result<Value, Problem> {
    let obj = v
        .as_object()
        .ok_or_else(|| Problem::invalid("branding", "must be an object"))?;
    let mut out = Map::new();
    for (k, val) in obj {
        let s = val
            .as_str()
            .ok_or_else(|| Problem::invalid(format!("branding.{k}"), "must be a string"))?;
        match k.as_str() {
            "primary_color" | "secondary_color" | "accent_color" => {
                let ok = s.len() == 7
                    && s.starts_with('#')
                    && s[1..].chars().all(|c| c.is_ascii_hexdigit());
                if !ok {
                    return Err(Problem::invalid(
                        format!("branding.{k}"),
                        "must be a #rrggbb colour",
                    ));
                }
            }
            "logo_url" => {
                security::opt_url("branding.logo_url", Some(s))?;
            }
            _ => {
                return Err(Problem::invalid(
                    format!("branding.{k}"),
                    "unknown branding field",
                ));
            }
        }
        out.insert(k.clone(), Value::String(s.to_string()));
    }
    Ok(Value::Object(out))
}

fn check_settings(v: &Value) -> Result<Value, Problem> {
    let obj = v
        .as_object()
        .ok_or_else(|| Problem::invalid("settings", "must be an object"))?;
    for (k, val) in obj {
        match (k.as_str(), val) {
            ("mfa_required", Value::Bool(_)) => {}
            ("default_member_role", Value::String(r)) => {
                check_role("settings.default_member_role", r)?;
            }
            ("timezone" | "locale", Value::String(s)) if s.len() <= 64 => {}
            _ => {
                return Err(Problem::invalid(
                    format!("settings.{k}"),
                    "unknown setting or wrong type",
                ));
            }
        }
    }
    Ok(v.clone())
}

/// Update an organisation's profile, settings and branding (admins).
#[utoipa::path(patch, path = "/api/v1/organizations/{org_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path)), request_body = UpdateOrganization,
    responses((status = 200, body = Organization), (status = 403, body = kit::ProblemBody), (status = 404, body = kit::ProblemBody)))]
pub async fn update_organization(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Path(org): Path<Uuid>,
    Json(req): Json<UpdateOrganization>,
) -> Result<Json<Organization>, Problem> {
    let name = req
        .organization_name
        .as_deref()
        .map(|n| security::text("organization_name", n, 2, 100))
        .transpose()?;
    let website = security::opt_url("website", req.website.as_deref())?;
    let industry = security::opt_text("industry", req.industry.as_deref(), 100)?;
    let size = security::opt_text("company_size", req.company_size.as_deref(), 20)?;
    let logo = security::opt_url("logo_url", req.logo_url.as_deref())?;
    let settings = req.settings.as_ref().map(check_settings).transpose()?;
    let branding = req.branding.as_ref().map(check_branding).transpose()?;
    let mut a = access(&s, &p, org).await?;
    require_admin(&a)?;
    sqlx::query(
        "UPDATE organizations SET name = coalesce($2, name), website = coalesce($3, website), \
         industry = coalesce($4, industry), company_size = coalesce($5, company_size), \
         logo_url = coalesce($6, logo_url), settings = settings || coalesce($7, '{}'::jsonb), \
         branding = branding || coalesce($8, '{}'::jsonb), updated_at = now() WHERE id = $1",
    )
    .bind(org)
    .bind(&name)
    .bind(&website)
    .bind(&industry)
    .bind(&size)
    .bind(&logo)
    .bind(&settings)
    .bind(&branding)
    .execute(&mut *a.tx)
    .await?;
    audit::record(
        &mut a.tx,
        &Origin::new(ip, ua),
        Entry::new("organization_updated")
            .org(Some(org))
            .actor(p.user_id)
            .resource("organization", org),
    )
    .await?;
    let o = load_org(&mut a.tx, org).await?;
    a.tx.commit().await.map_err(Problem::from)?;
    Ok(Json(o))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    /// `admin`, `member` or `viewer`.
    pub role: String,
    /// Custom permissions, e.g. `{"prd_builder": ["read", "write"], "research": ["read"]}`;
    /// the role's defaults when absent.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub permissions: Option<Value>,
    #[serde(default)]
    pub custom_message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation_id: Uuid,
    pub email: String,
    pub role: String,
    pub status: &'static str,
    pub invitation_link: String,
    pub expires_at: String,
    pub created_by: Uuid,
    pub created_at: String,
}

/// Invite someone to the organisation (admins); they get an email with a link valid 7 days.
#[utoipa::path(post, path = "/api/v1/organizations/{org_id}/invitations", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path)), request_body = CreateInvitation,
    responses((status = 201, body = InvitationCreated), (status = 409, body = kit::ProblemBody)))]
pub async fn create_invitation(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Path(org): Path<Uuid>,
    Json(req): Json<CreateInvitation>,
) -> Result<(StatusCode, Json<InvitationCreated>), Problem> {
    let email = security::normalise_email("email", &req.email)?;
    let role = check_role("role", &req.role)?;
    let permissions = match &req.permissions {
        Some(p) => check_permissions("permissions", p)?,
        None => default_permissions(&role),
    };
    let message = security::opt_text("custom_message", req.custom_message.as_deref(), 1000)?;
    let mut a = access(&s, &p, org).await?;
    require_admin(&a)?;
    s.limiter
        .enforce(
            "invitations",
            Subject::Key(&org.to_string()),
            Limit::per_day(100),
        )
        .await?;
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM team_memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.organization_id = $1 AND lower(u.email) = $2)",
    )
    .bind(org)
    .bind(&email)
    .fetch_one(&mut *a.tx)
    .await?;
    if member {
        return Err(Problem::conflict("this person is already a member"));
    }
    // An expired pending invitation gives way to the new one.
    sqlx::query("UPDATE invitations SET status = 'revoked' WHERE organization_id = $1 AND lower(email) = $2 AND status = 'sent' AND expires_at <= now()")
        .bind(org)
        .bind(&email)
        .execute(&mut *a.tx)
        .await?;
    let id = Uuid::now_v7();
    let token = security::random_token(32);
    let expires = OffsetDateTime::now_utc() + INVITATION_TTL;
    let created: OffsetDateTime = sqlx::query_scalar(
        "INSERT INTO invitations (id, organization_id, email, role, permissions, custom_message, token_hash, expires_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING created_at",
    )
    .bind(id)
    .bind(org)
    .bind(&email)
    .bind(&role)
    .bind(&permissions)
    .bind(&message)
    .bind(security::digest(&token))
    .bind(expires)
    .bind(p.user_id)
    .fetch_one(&mut *a.tx)
    .await
    .on_constraint("invitations_pending_email", || Problem::conflict("an invitation for this email is already pending"))?;
    outbox::publish(
        &mut a.tx,
        SOURCE,
        org,
        id,
        &v1::MemberInvited {
            organization_id: org.to_string(),
            invitation_id: id.to_string(),
            invited_email: email.clone(),
            invited_by: p.user_id.to_string(),
            role: role.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut a.tx,
        &Origin::new(ip, ua),
        Entry::new("member_invited")
            .org(Some(org))
            .actor(p.user_id)
            .resource("invitation", id)
            .meta(json!({"email": email, "role": role})),
    )
    .await?;
    let org_name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(org)
        .fetch_one(&mut *a.tx)
        .await?;
    a.tx.commit().await.map_err(Problem::from)?;
    let link = format!("{}/invite/{id}?token={token}", s.app_url);
    s.send(mail::invitation(
        &email,
        &org_name,
        &link,
        message.as_deref(),
        &rfc3339(expires),
    ))
    .await;
    Ok((
        StatusCode::CREATED,
        Json(InvitationCreated {
            invitation_id: id,
            email,
            role,
            status: "sent",
            invitation_link: link,
            expires_at: rfc3339(expires),
            created_by: p.user_id,
            created_at: rfc3339(created),
        }),
    ))
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
    pub role: String,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub dashboard_url: String,
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// Accept an invitation: creates the account (with the invited, thereby verified, email) or,
/// for someone who already has one, adds the membership — then they must be signed in as it.
#[utoipa::path(post, path = "/api/v1/invitations/{invitation_id}/accept", tag = "organizations",
    params(("invitation_id" = Uuid, Path)), request_body = AcceptInvitation,
    responses((status = 200, body = InvitationAccepted), (status = 400, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody)))]
pub async fn accept_invitation(
    State(s): State<AppState>,
    OptionalPrincipal(p): OptionalPrincipal,
    ip: ClientIp,
    ua: UserAgent,
    Path(id): Path<Uuid>,
    Json(req): Json<AcceptInvitation>,
) -> Result<Json<InvitationAccepted>, Problem> {
    let invalid = || Problem::bad_request("the invitation is invalid, already used or expired");
    if req.token.len() > 128 {
        return Err(invalid());
    }
    let origin = Origin::new(ip, ua);
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let inv = sqlx::query(
        "SELECT organization_id, email, role, permissions FROM invitations \
         WHERE id = $1 AND token_hash = $2 AND status = 'sent' AND expires_at > now() FOR UPDATE",
    )
    .bind(id)
    .bind(security::digest(&req.token))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    let (org, email, role, permissions): (Uuid, String, String, Value) =
        (inv.get(0), inv.get(1), inv.get(2), inv.get(3));
    let existing = sessions::load_user_by_email(&mut tx, &email).await?;
    let user_id = match existing {
        Some(u) => {
            if p.as_ref().map(|p| p.user_id) != Some(u.id) {
                return Err(Problem::conflict(
                    "an account exists for this email: sign in as it, then accept",
                ));
            }
            u.id
        }
        None => {
            let name = security::text(
                "full_name",
                req.full_name.as_deref().unwrap_or_default(),
                1,
                200,
            )?;
            let password = req
                .password
                .clone()
                .ok_or_else(|| Problem::invalid("password", "is required for a new account"))?;
            security::check_password("password", &password, &email)?;
            let hash = security::hash_password(password).await?;
            let uid = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, full_name, user_type, organization_id, role, email_verified) \
                 VALUES ($1, $2, $3, $4, 'client', $5, $6, true)",
            )
            .bind(uid)
            .bind(&email)
            .bind(&hash)
            .bind(&name)
            .bind(org)
            .bind(&role)
            .execute(&mut *tx)
            .await?;
            uid
        }
    };
    sqlx::query("INSERT INTO team_memberships (id, user_id, organization_id, role, permissions) VALUES ($1, $2, $3, $4, $5)")
        .bind(Uuid::now_v7())
        .bind(user_id)
        .bind(org)
        .bind(&role)
        .bind(&permissions)
        .execute(&mut *tx)
        .await
        .on_constraint("team_memberships_user_org_key", || Problem::conflict("already a member of this organisation"))?;
    sqlx::query("UPDATE invitations SET status = 'accepted', accepted_at = now(), accepted_user_id = $2 WHERE id = $1")
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE users SET organization_id = coalesce(organization_id, $2), updated_at = now() WHERE id = $1")
        .bind(user_id)
        .bind(org)
        .execute(&mut *tx)
        .await?;
    outbox::publish(
        &mut tx,
        SOURCE,
        org,
        user_id,
        &v1::MemberJoined {
            organization_id: org.to_string(),
            user_id: user_id.to_string(),
            role: role.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin,
        Entry::new("member_joined")
            .org(Some(org))
            .user(user_id)
            .resource("invitation", id),
    )
    .await?;
    let user = sessions::load_user(&mut tx, user_id)
        .await?
        .ok_or_else(invalid)?;
    let orgs = sessions::memberships(&mut tx, user_id).await?;
    let tokens = sessions::issue(
        &mut tx,
        &s,
        &user,
        sessions::pick_org(&orgs, Some(org), None),
        None,
        &origin,
    )
    .await?;
    let (org_name, slug): (String, String) =
        sqlx::query_as("SELECT name, slug FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await.map_err(Problem::from)?;
    s.send(mail::welcome(
        &user.email,
        &user.full_name,
        &org_name,
        &format!("{}/{slug}", s.app_url),
    ))
    .await;
    Ok(Json(InvitationAccepted {
        user_id,
        organization_id: org,
        role,
        permissions,
        dashboard_url: format!("{}/{slug}", s.app_url),
        tokens,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: String,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub joined_at: String,
    pub last_active: Option<String>,
    pub status: String,
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
pub async fn list_members(
    State(s): State<AppState>,
    p: Principal,
    Path(org): Path<Uuid>,
) -> Result<Json<Members>, Problem> {
    let mut a = access(&s, &p, org).await?;
    // No organisation filter needed for safety (RLS scopes it); it is here for the plan.
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.full_name, m.role, m.permissions, m.created_at, m.last_active_at, u.account_status \
         FROM team_memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 ORDER BY m.created_at",
    )
    .bind(org)
    .fetch_all(&mut *a.tx)
    .await?;
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invitations WHERE organization_id = $1 AND status = 'sent' AND expires_at > now()",
    )
    .bind(org)
    .fetch_one(&mut *a.tx)
    .await?;
    a.tx.commit().await.map_err(Problem::from)?;
    let members: Vec<Member> = rows
        .into_iter()
        .map(|r| Member {
            user_id: r.get(0),
            email: r.get(1),
            full_name: r.get(2),
            role: r.get(3),
            permissions: r.get(4),
            joined_at: rfc3339(r.get(5)),
            last_active: r.get::<Option<OffsetDateTime>, _>(6).map(rfc3339),
            status: r.get(7),
        })
        .collect();
    Ok(Json(Members {
        organization_id: org,
        total_members: members.len(),
        members,
        pending_invitations: pending,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: Option<String>,
    #[schema(value_type = Object)]
    pub permissions: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberUpdated {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub role: String,
    #[schema(value_type = Object)]
    pub permissions: Value,
    pub updated_at: String,
    pub updated_by: Uuid,
}

/// Admins in an organisation (row-locked, so concurrent demotions cannot both pass the check).
async fn admins(tx: &mut Tx, org: Uuid) -> Result<Vec<Uuid>, Problem> {
    Ok(sqlx::query_scalar("SELECT user_id FROM team_memberships WHERE organization_id = $1 AND role = 'admin' FOR UPDATE")
        .bind(org)
        .fetch_all(&mut **tx)
        .await?)
}

/// Change a member's role or permissions (admins). The last admin cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/organizations/{org_id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = UpdateMember,
    responses((status = 200, body = MemberUpdated), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
pub async fn update_member(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Path((org, user)): Path<(Uuid, Uuid)>,
    Json(req): Json<UpdateMember>,
) -> Result<Json<MemberUpdated>, Problem> {
    let role = req
        .role
        .as_deref()
        .map(|r| check_role("role", r))
        .transpose()?;
    let permissions = req
        .permissions
        .as_ref()
        .map(|v| check_permissions("permissions", v))
        .transpose()?;
    if role.is_none() && permissions.is_none() {
        return Err(Problem::invalid("body", "give role, permissions or both"));
    }
    let mut a = access(&s, &p, org).await?;
    require_admin(&a)?;
    let current = sqlx::query("SELECT role, permissions FROM team_memberships WHERE organization_id = $1 AND user_id = $2 FOR UPDATE")
        .bind(org)
        .bind(user)
        .fetch_optional(&mut *a.tx)
        .await?
        .ok_or_else(|| Problem::not_found("member"))?;
    let old_role: String = current.get(0);
    let new_role = role.unwrap_or_else(|| old_role.clone());
    if old_role == "admin" && new_role != "admin" && admins(&mut a.tx, org).await?.len() <= 1 {
        return Err(Problem::conflict(
            "the organisation's last admin cannot be demoted",
        ));
    }
    let permissions = match permissions {
        Some(p) => p,
        None if new_role != old_role => default_permissions(&new_role),
        None => current.get(1),
    };
    let updated: OffsetDateTime = sqlx::query_scalar(
        "UPDATE team_memberships SET role = $3, permissions = $4, updated_at = now() \
         WHERE organization_id = $1 AND user_id = $2 RETURNING updated_at",
    )
    .bind(org)
    .bind(user)
    .bind(&new_role)
    .bind(&permissions)
    .fetch_one(&mut *a.tx)
    .await?;
    outbox::publish(
        &mut a.tx,
        SOURCE,
        org,
        user,
        &v1::MemberRoleUpdated {
            organization_id: org.to_string(),
            user_id: user.to_string(),
            old_role: old_role.clone(),
            new_role: new_role.clone(),
            updated_by: p.user_id.to_string(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut a.tx,
        &Origin::new(ip, ua),
        Entry::new("member_role_updated")
            .org(Some(org))
            .user(user)
            .actor(p.user_id)
            .meta(json!({"old_role": old_role, "new_role": new_role})),
    )
    .await?;
    a.tx.commit().await.map_err(Problem::from)?;
    Ok(Json(MemberUpdated {
        user_id: user,
        organization_id: org,
        role: new_role,
        permissions,
        updated_at: rfc3339(updated),
        updated_by: p.user_id,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRemoved {
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub status: &'static str,
    pub removed_at: String,
    pub removed_by: Uuid,
    pub access_revoked: bool,
}

/// Remove a member (admins): their sessions in this organisation end at once. The last admin
/// cannot be removed.
#[utoipa::path(delete, path = "/api/v1/organizations/{org_id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = MemberRemoved), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
pub async fn remove_member(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Path((org, user)): Path<(Uuid, Uuid)>,
) -> Result<Json<MemberRemoved>, Problem> {
    let mut a = access(&s, &p, org).await?;
    require_admin(&a)?;
    let role: String = sqlx::query_scalar(
        "SELECT role FROM team_memberships WHERE organization_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(user)
    .fetch_optional(&mut *a.tx)
    .await?
    .ok_or_else(|| Problem::not_found("member"))?;
    if role == "admin" && admins(&mut a.tx, org).await?.len() <= 1 {
        return Err(Problem::conflict(
            "the organisation's last admin cannot be removed",
        ));
    }
    sqlx::query("DELETE FROM team_memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(&mut *a.tx)
        .await?;
    outbox::publish(
        &mut a.tx,
        SOURCE,
        org,
        user,
        &v1::MemberRemoved {
            organization_id: org.to_string(),
            user_id: user.to_string(),
            removed_by: p.user_id.to_string(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut a.tx,
        &Origin::new(ip, ua),
        Entry::new("member_removed")
            .org(Some(org))
            .user(user)
            .actor(p.user_id),
    )
    .await?;
    a.tx.commit().await.map_err(Problem::from)?;
    // Refresh tokens are credential data, reachable only in the service's own scope.
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    sessions::revoke_user(&mut tx, user, Some(org), "member_removed").await?;
    sqlx::query("UPDATE users SET organization_id = NULL WHERE id = $1 AND organization_id = $2")
        .bind(user)
        .bind(org)
        .execute(&mut *tx)
        .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(MemberRemoved {
        organization_id: org,
        user_id: user,
        status: "removed",
        removed_at: now_rfc3339(),
        removed_by: p.user_id,
        access_revoked: true,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub user_id: Option<Uuid>,
    /// RFC 3339.
    pub from: Option<String>,
    pub to: Option<String>,
    #[serde(default = "one")]
    pub page: u32,
    #[serde(default = "fifty")]
    pub limit: u32,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn one() -> u32 {
    1
}
fn fifty() -> u32 {
    50
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    pub id: Uuid,
    pub action: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub timestamp: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    pub page: u32,
    pub limit: u32,
    pub total: i64,
}

fn parse_time(field: &str, v: Option<&str>) -> Result<Option<OffsetDateTime>, Problem> {
    v.map(|s| {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| Problem::invalid(field, "must be an RFC 3339 time"))
    })
    .transpose()
}

fn csv_field(v: &str) -> String {
    // Quote always; neutralise spreadsheet formulas.
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    format!("\"{}\"", v.replace('"', "\"\""))
}

/// The organisation's audit log (admins): filter by action, user and time; JSON or CSV.
#[utoipa::path(get, path = "/api/v1/organizations/{org_id}/audit-logs", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = kit::ProblemBody)))]
pub async fn audit_logs(
    State(s): State<AppState>,
    p: Principal,
    Path(org): Path<Uuid>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, Problem> {
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    if q.page == 0 {
        return Err(Problem::invalid("page", "starts at 1"));
    }
    if !(1..=1000).contains(&q.limit) {
        return Err(Problem::invalid("limit", "must be 1 to 1000"));
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(Problem::invalid("format", "must be json or csv")),
    };
    let action = q
        .action
        .as_deref()
        .map(|a| security::text("action", a, 1, 64))
        .transpose()?;
    let mut a = access(&s, &p, org).await?;
    require_admin(&a)?;
    let filter = "organization_id = $1 AND ($2::text IS NULL OR action = $2) AND ($3::uuid IS NULL OR user_id = $3 OR actor_id = $3) \
                  AND ($4::timestamptz IS NULL OR \"timestamp\" >= $4) AND ($5::timestamptz IS NULL OR \"timestamp\" < $5)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM audit_logs WHERE {filter}"
    )))
    .bind(org)
    .bind(&action)
    .bind(q.user_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *a.tx)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, action, user_id, actor_id, resource_type, resource_id, metadata, ip_address, user_agent, \"timestamp\" \
         FROM audit_logs WHERE {filter} ORDER BY \"timestamp\" DESC, id DESC LIMIT $6 OFFSET $7"
    )))
    .bind(org)
    .bind(&action)
    .bind(q.user_id)
    .bind(from)
    .bind(to)
    .bind(i64::from(q.limit))
    .bind(i64::from(q.page - 1) * i64::from(q.limit))
    .fetch_all(&mut *a.tx)
    .await?;
    a.tx.commit().await.map_err(Problem::from)?;
    let records: Vec<AuditRecord> = rows
        .into_iter()
        .map(|r| AuditRecord {
            id: r.get(0),
            action: r.get(1),
            user_id: r.get(2),
            actor_id: r.get(3),
            resource_type: r.get(4),
            resource_id: r.get(5),
            metadata: r.get(6),
            ip_address: r.get(7),
            user_agent: r.get(8),
            timestamp: rfc3339(r.get(9)),
        })
        .collect();
    if csv {
        let mut out = String::from(
            "id,timestamp,action,user_id,actor_id,resource_type,resource_id,ip_address,user_agent,metadata\n",
        );
        for r in &records {
            let opt = |v: &Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
            let fields = [
                r.id.to_string(),
                r.timestamp.clone(),
                r.action.clone(),
                opt(&r.user_id),
                opt(&r.actor_id),
                r.resource_type.clone().unwrap_or_default(),
                opt(&r.resource_id),
                r.ip_address.clone().unwrap_or_default(),
                r.user_agent.clone().unwrap_or_default(),
                r.metadata.to_string(),
            ];
            out.push_str(
                &fields
                    .iter()
                    .map(|f| csv_field(f))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit-logs.csv\"",
                ),
            ],
            out,
        )
            .into_response());
    }
    Ok(Json(AuditPage {
        records,
        page: q.page,
        limit: q.limit,
        total,
    })
    .into_response())
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
pub async fn unlock_member(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Path((org, user)): Path<(Uuid, Uuid)>,
) -> Result<Json<Unlocked>, Problem> {
    let mut a = access(&s, &p, org).await?;
    require_admin(&a)?;
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM team_memberships WHERE organization_id = $1 AND user_id = $2)",
    )
    .bind(org)
    .bind(user)
    .fetch_one(&mut *a.tx)
    .await?;
    if !member {
        return Err(Problem::not_found("member"));
    }
    let unlocked = sqlx::query(
        "UPDATE users SET locked_until = NULL, failed_login_count = 0 WHERE id = $1 AND locked_until IS NOT NULL",
    )
    .bind(user)
    .execute(&mut *a.tx)
    .await?
    .rows_affected()
        == 1;
    audit::record(
        &mut a.tx,
        &Origin::new(ip, ua),
        Entry::new("account_unlocked")
            .org(Some(org))
            .user(user)
            .actor(p.user_id),
    )
    .await?;
    a.tx.commit().await.map_err(Problem::from)?;
    Ok(Json(Unlocked {
        user_id: user,
        unlocked,
    }))
}
