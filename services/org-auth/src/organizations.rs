//! Organisations: created by a verified client (who becomes its admin), read by its members,
//! their profile, settings and branding changed by its admins.
use axum::{
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, request::Parts},
};
use kit::{
    Json, Origin, Problem, Timestamp,
    auth::Principal,
    input::{OptText, Text},
    sqlx::PgConnection,
    store::ConstraintExt,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState, access,
    accounts::{self, NewOrganization},
    audit::Entry,
    mfa::{self, Issuing},
    problems,
    rules::{Branding, OptUrl, OrgSettings, Permissions, Role},
    sessions::{self, Tokens},
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_organization))
        .routes(routes!(get_organization, update_organization))
}

/// A client user, checked before the body is read: agents create client organisations
/// through assisted signup.
struct Client(Principal);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Problem> {
        let p = Principal::from_request_parts(parts, s).await?;
        if p.is_agent() {
            return Err(Problem::forbidden(
                "agents create client organisations through assisted signup",
            ));
        }
        Ok(Client(p))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    #[schema(inline)]
    pub organization_name: Text<2, 100>,
    #[serde(default)]
    #[schema(inline)]
    pub industry: OptText<100>,
    /// e.g. `10-50`.
    #[serde(default)]
    #[schema(inline)]
    pub company_size: OptText<20>,
    #[serde(default)]
    pub website: OptUrl,
    #[serde(default)]
    pub logo_url: OptUrl,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationCreated {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub slug: String,
    pub admin_user_id: Uuid,
    pub created_at: Timestamp,
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
async fn create_organization(
    State(s): State<AppState>,
    Client(p): Client,
    origin: Origin,
    Json(req): Json<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationCreated>), Problem> {
    let mut uow = s.db.system().await?.by(&p).from(&origin);
    let user = sessions::load_user(&mut uow, p.user_id)
        .await?
        .filter(|u| u.email_verified)
        .ok_or_else(|| problems::EMAIL_UNVERIFIED.with("verify your email address first"))?;
    let slug = accounts::free_slug(&mut uow, &req.organization_name).await?;
    let org = NewOrganization {
        id: Uuid::now_v7(),
        name: &req.organization_name,
        slug: &slug,
        website: req.website.as_deref(),
        industry: req.industry.as_deref(),
        company_size: req.company_size.as_deref(),
        logo_url: req.logo_url.as_deref(),
        created_by: user.id,
    };
    let created_at = org
        .insert(&mut uow)
        .await
        .on_constraint("organizations_slug_key", || {
            problems::SLUG_TAKEN.with("an organisation with this name was just created; retry")
        })?;
    let admin = Role::Admin;
    accounts::add_member(&mut uow, user.id, org.id, admin, &Permissions::of(admin)).await?;
    sqlx::query("UPDATE users SET organization_id = coalesce(organization_id, $2), role = 'admin', updated_at = now() WHERE id = $1")
        .bind(user.id)
        .bind(org.id)
        .execute(&mut *uow)
        .await?;
    uow.emit(org.id, org.id, &org.created(user.id)).await?;
    let entry = Entry::new("organization_created")
        .org(Some(org.id))
        .user(user.id);
    uow.audit(entry.resource("organization", org.id)).await?;
    let orgs = sessions::memberships(&mut uow, user.id).await?;
    let acting = sessions::pick_org(&orgs, Some(org.id), None);
    // New tokens carry the caller's sign-in on, like a refresh: refused while another of the
    // caller's organisations requires MFA the caller has not set up.
    mfa::decide(&mut uow, &user, Issuing::Refresh).await?;
    let tokens = sessions::issue(&mut uow, &s, &user, acting, None).await?;
    uow.commit().await?;
    let answer = OrganizationCreated {
        organization_id: org.id,
        organization_name: org.name.to_string(),
        dashboard_url: format!("{}/{slug}", s.app_url),
        slug: slug.clone(),
        admin_user_id: user.id,
        created_at,
        onboarding_status: "research_queued",
        tokens,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

async fn load(conn: &mut PgConnection, org: Uuid) -> Result<Organization, Problem> {
    sqlx::query_as(
        "SELECT id AS organization_id, name AS organization_name, slug, website, industry, company_size, \
         logo_url, settings, branding, onboarding_status, created_at, updated_at FROM organizations WHERE id = $1",
    )
    .bind(org)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Problem::not_found("organization"))
}

/// An organisation, for its members (and platform admins).
#[utoipa::path(get, path = "/api/v1/organizations/{org_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Organization), (status = 404, body = kit::ProblemBody)))]
async fn get_organization(
    State(s): State<AppState>,
    p: Principal,
    Path(org): Path<Uuid>,
) -> Result<Json<Organization>, Problem> {
    let mut uow = access::member(&s, &p, org).await?;
    let o = load(&mut uow, org).await?;
    uow.commit().await?;
    Ok(Json(o))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[serde(default)]
    #[schema(inline)]
    pub organization_name: Option<Text<2, 100>>,
    #[serde(default)]
    pub website: OptUrl,
    #[serde(default)]
    #[schema(inline)]
    pub industry: OptText<100>,
    #[serde(default)]
    #[schema(inline)]
    pub company_size: OptText<20>,
    #[serde(default)]
    pub logo_url: OptUrl,
    /// Settings, e.g. `{"mfa_required": true}`.
    #[serde(default)]
    pub settings: Option<OrgSettings>,
    /// Branding: `logo_url`, `primary_color`, `secondary_color` (`#rrggbb`).
    #[serde(default)]
    pub branding: Option<Branding>,
}

/// Update an organisation's profile, settings and branding (admins).
#[utoipa::path(patch, path = "/api/v1/organizations/{org_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path)), request_body = UpdateOrganization,
    responses((status = 200, body = Organization), (status = 403, body = kit::ProblemBody), (status = 404, body = kit::ProblemBody)))]
async fn update_organization(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path(org): Path<Uuid>,
    Json(req): Json<UpdateOrganization>,
) -> Result<Json<Organization>, Problem> {
    let mut uow = access::admin(&s, &p, org).await?.from(&origin);
    sqlx::query(
        "UPDATE organizations SET name = coalesce($2, name), website = coalesce($3, website), \
         industry = coalesce($4, industry), company_size = coalesce($5, company_size), \
         logo_url = coalesce($6, logo_url), settings = settings || coalesce($7, '{}'::jsonb), \
         branding = branding || coalesce($8, '{}'::jsonb), updated_at = now() WHERE id = $1",
    )
    .bind(org)
    .bind(req.organization_name.as_deref())
    .bind(req.website.as_deref())
    .bind(req.industry.as_deref())
    .bind(req.company_size.as_deref())
    .bind(req.logo_url.as_deref())
    .bind(req.settings.as_ref().map(sqlx::types::Json))
    .bind(req.branding.as_ref().map(sqlx::types::Json))
    .execute(&mut *uow)
    .await?;
    let entry = Entry::new("organization_updated").by_actor();
    uow.audit(entry.resource("organization", org)).await?;
    let o = load(&mut uow, org).await?;
    uow.commit().await?;
    Ok(Json(o))
}
