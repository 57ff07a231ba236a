//! Assisted accounts (spec §0, endpoints 11–16): a platform admin — or a sales agent holding
//! `assisted_signup.create` — creates a client's user and organisation; the client claims the
//! account with a single-use token within 30 days.
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
};
use kit::{
    ClientIp, Json, Problem, UserAgent,
    auth::{Claims, Principal},
    cache::{Limit, Subject},
    contracts::events::v1,
    store::{self, Scope, Tx, outbox},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState, SOURCE,
    audit::{self, Entry, Origin},
    mail, now_rfc3339, org_routes, rfc3339, security,
    sessions::{self, Tokens},
};

pub const CLAIM_TTL: Duration = Duration::days(30);
const MAX_ACCESS_HOURS: i32 = 72;

/// `CLAIM-XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX`: 160 random bits in Crockford base32 (no
/// ambiguous letters), grouped for reading aloud.
pub fn claim_token() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    let mut bits = 0u64;
    let mut n = 0;
    let mut chars = String::with_capacity(32);
    for b in bytes {
        bits = (bits << 8) | u64::from(b);
        n += 8;
        while n >= 5 {
            n -= 5;
            chars.push(ALPHABET[((bits >> n) & 31) as usize] as char);
        }
    }
    let groups: Vec<&str> = (0..4).map(|i| &chars[i * 8..i * 8 + 8]).collect();
    format!("CLAIM-{}", groups.join("-"))
}

/// Normalises a claim token as typed (case, spaces).
fn normalise_claim(t: &str) -> String {
    t.trim().to_ascii_uppercase()
}

/// The caller may manage assisted accounts with `action`: platform admins always; agents
/// holding `assisted_signup.<action>`.
fn authorise(p: &Principal, action: &str) -> Result<(), Problem> {
    if !p.is_agent() {
        return Err(Problem::forbidden(
            "assisted accounts are managed by platform agents",
        ));
    }
    p.require_permission("assisted_signup", action)
}

/// Sales agents see only the accounts they created; platform admins see all.
fn sees_all(p: &Principal) -> bool {
    p.is_platform_admin()
}

async fn agent_tx(s: &AppState) -> Result<Tx, Problem> {
    Ok(store::begin(&s.db, Scope::agent(None)).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistedSignup {
    pub client_email: String,
    pub client_name: String,
    pub company_name: String,
    #[serde(default)]
    pub company_website: Option<String>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub company_size: Option<String>,
    /// Must be the caller's own agent id when given (the verified token decides).
    #[serde(default)]
    pub created_by_agent_id: Option<Uuid>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistedCreated {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub account_status: &'static str,
    /// Shown once: only its digest is stored.
    pub claim_token: String,
    pub claim_url: String,
    /// `temp_` + a token acting as the account's admin for 24 hours (audited).
    pub temporary_access_token: String,
    pub expires_at: String,
    pub created_by_agent_id: Uuid,
    pub created_by_agent_role: String,
    pub created_at: String,
    pub dashboard_url: String,
    pub message: &'static str,
}

/// Create a client's account on their behalf (platform admins, or agents with
/// `assisted_signup.create`). Publishes `assisted_account_created`.
#[utoipa::path(post, path = "/api/v1/auth/assisted-signup", tag = "assisted accounts",
    security(("bearer" = [])), request_body = AssistedSignup,
    responses((status = 201, body = AssistedCreated), (status = 403, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody)))]
pub async fn assisted_signup(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<AssistedSignup>,
) -> Result<(StatusCode, Json<AssistedCreated>), Problem> {
    authorise(&p, "create")?;
    let agent = p
        .agent
        .clone()
        .ok_or_else(|| Problem::forbidden("agents only"))?;
    if req.created_by_agent_id.is_some_and(|a| a != agent.agent_id) {
        return Err(Problem::invalid(
            "created_by_agent_id",
            "must be your own agent id",
        ));
    }
    let email = security::require_work_email("client_email", &req.client_email)?;
    let client_name = security::text("client_name", &req.client_name, 1, 200)?;
    let company = security::text("company_name", &req.company_name, 2, 100)?;
    let website = security::opt_url("company_website", req.company_website.as_deref())?;
    let industry = security::opt_text("industry", req.industry.as_deref(), 100)?;
    let size = security::opt_text("company_size", req.company_size.as_deref(), 20)?;
    let notes = security::opt_text("notes", req.notes.as_deref(), 5000)?;
    s.limiter
        .enforce(
            "assisted-signup",
            Subject::Key(&agent.agent_id.to_string()),
            Limit::per_day(100),
        )
        .await?;
    let origin = Origin::new(ip, ua);
    let (user_id, org_id) = (Uuid::now_v7(), Uuid::now_v7());
    let token = claim_token();
    let now = OffsetDateTime::now_utc();
    let expires = now + CLAIM_TTL;
    let agent_role = agent.primary_role.clone().unwrap_or_else(|| p.role.clone());

    let mut tx = agent_tx(&s).await?;
    if sessions::load_user_by_email(&mut tx, &email)
        .await?
        .is_some()
    {
        return Err(Problem::conflict(
            "an account already exists for this email",
        ));
    }
    let slug = org_routes::free_slug(&mut tx, &company).await?;
    sqlx::query(
        "INSERT INTO organizations (id, name, slug, website, industry, company_size, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(org_id)
    .bind(&company)
    .bind(&slug)
    .bind(&website)
    .bind(&industry)
    .bind(&size)
    .bind(p.user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, email, full_name, user_type, organization_id, role, account_status, created_by_agent_id) \
         VALUES ($1, $2, $3, 'client', $4, 'admin', 'assisted_unclaimed', $5)",
    )
    .bind(user_id)
    .bind(&email)
    .bind(&client_name)
    .bind(org_id)
    .bind(agent.agent_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO team_memberships (id, user_id, organization_id, role, permissions) VALUES ($1,$2,$3,'admin',$4)")
        .bind(Uuid::now_v7())
        .bind(user_id)
        .bind(org_id)
        .bind(org_routes::default_permissions("admin"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO assisted_accounts (user_id, organization_id, client_name, company_name, notes, created_by_agent_id, \
         created_by_user_id, created_by_agent_role, claim_token_hash, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(user_id)
    .bind(org_id)
    .bind(&client_name)
    .bind(&company)
    .bind(&notes)
    .bind(agent.agent_id)
    .bind(p.user_id)
    .bind(&agent_role)
    .bind(security::digest(&token))
    .bind(expires)
    .execute(&mut *tx)
    .await?;
    let temp = grant(
        &mut tx,
        &s,
        user_id,
        org_id,
        p.user_id,
        "assisted signup set-up",
        24,
    )
    .await?;
    outbox::publish(
        &mut tx,
        SOURCE,
        org_id,
        user_id,
        &v1::AssistedAccountCreated {
            user_id: user_id.to_string(),
            organization_id: org_id.to_string(),
            client_email: email.clone(),
            created_by_agent_id: agent.agent_id.to_string(),
            created_by_agent_role: agent_role.clone(),
            expires_at: rfc3339(expires),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    // The organisation exists now like any other: research starts from this event.
    outbox::publish(
        &mut tx,
        SOURCE,
        org_id,
        org_id,
        &v1::OrganizationCreated {
            organization_id: org_id.to_string(),
            admin_user_id: user_id.to_string(),
            industry: industry.clone().unwrap_or_default(),
            name: company.clone(),
            slug: slug.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin,
        Entry::new("assisted_account_created")
            .org(Some(org_id))
            .user(user_id)
            .actor(p.user_id)
            .meta(json!({"agent_id": agent.agent_id, "agent_role": agent_role})),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    let claim_url = format!("{}/claim/{token}", s.app_url);
    s.send(mail::claim(
        &email,
        &client_name,
        &company,
        &claim_url,
        &rfc3339(expires),
        None,
    ))
    .await;
    Ok((
        StatusCode::CREATED,
        Json(AssistedCreated {
            user_id,
            organization_id: org_id,
            email,
            account_status: "assisted_unclaimed",
            claim_token: token,
            claim_url,
            temporary_access_token: format!("temp_{temp}"),
            expires_at: rfc3339(expires),
            created_by_agent_id: agent.agent_id,
            created_by_agent_role: agent_role,
            created_at: rfc3339(now),
            dashboard_url: format!("{}/{slug}", s.app_url),
            message: "Account created. Client can claim within 30 days using the claim link.",
        }),
    ))
}

/// Issues a temporary admin token for an assisted account and records the grant.
async fn grant(
    tx: &mut Tx,
    s: &AppState,
    user: Uuid,
    org: Uuid,
    granted_to: Uuid,
    reason: &str,
    hours: i32,
) -> Result<String, Problem> {
    let jti = Uuid::now_v7().to_string();
    let now = time::OffsetDateTime::now_utc();
    let mut c = Claims::client(user, Some(org), "admin");
    c.scope = Some("assisted_access".into());
    c.jti = jti.clone();
    c.iat = now.unix_timestamp();
    c.nbf = c.iat;
    c.exp = c.iat + i64::from(hours) * 3600;
    c.act = Some(granted_to);
    let token = s.signer.sign_with_defaults(c)?;
    sqlx::query(
        "INSERT INTO access_grants (id, user_id, organization_id, granted_to, reason, duration_hours, jti, expires_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(org)
    .bind(granted_to)
    .bind(reason)
    .bind(hours)
    .bind(&jti)
    .bind(now + Duration::hours(i64::from(hours)))
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistedAccount {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub company_name: String,
    /// `assisted_unclaimed`, `claimed` or `expired`.
    pub account_status: String,
    pub created_by: Uuid,
    pub created_at: String,
    pub expires_at: String,
    pub claimed_at: Option<String>,
    pub last_activity: Option<String>,
    pub notes: Option<String>,
}

const ACCOUNT_COLUMNS: &str = "a.user_id, a.organization_id, u.email, a.company_name, \
    CASE WHEN a.claimed_at IS NOT NULL THEN 'claimed' \
         WHEN a.expired_at IS NOT NULL OR a.expires_at <= now() THEN 'expired' \
         ELSE 'assisted_unclaimed' END AS status, \
    a.created_by_agent_id, a.created_at, a.expires_at, a.claimed_at, \
    greatest(a.last_activity_at, u.last_login_at) AS last_activity, a.notes";

fn account(r: &sqlx::postgres::PgRow) -> AssistedAccount {
    AssistedAccount {
        user_id: r.get(0),
        organization_id: r.get(1),
        email: r.get(2),
        company_name: r.get(3),
        account_status: r.get(4),
        created_by: r.get(5),
        created_at: rfc3339(r.get(6)),
        expires_at: rfc3339(r.get(7)),
        claimed_at: r.get::<Option<OffsetDateTime>, _>(8).map(rfc3339),
        last_activity: r.get::<Option<OffsetDateTime>, _>(9).map(rfc3339),
        notes: r.get(10),
    }
}

/// Loads an assisted account the caller may see (else 404).
async fn visible(tx: &mut Tx, p: &Principal, user: Uuid) -> Result<AssistedAccount, Problem> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM assisted_accounts a JOIN users u ON u.id = a.user_id WHERE a.user_id = $1"
    )))
    .bind(user)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| Problem::not_found("assisted account"))?;
    let a = account(&r);
    let mine = p
        .agent
        .as_ref()
        .is_some_and(|ag| ag.agent_id == a.created_by);
    if !sees_all(p) && !mine {
        return Err(Problem::not_found("assisted account"));
    }
    Ok(a)
}

/// One assisted account (platform admins; agents with `assisted_signup.read`, their own).
#[utoipa::path(get, path = "/api/v1/auth/assisted-accounts/{user_id}", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)),
    responses((status = 200, body = AssistedAccount), (status = 404, body = kit::ProblemBody)))]
pub async fn get_assisted(
    State(s): State<AppState>,
    p: Principal,
    Path(user): Path<Uuid>,
) -> Result<Json<AssistedAccount>, Problem> {
    authorise(&p, "read")?;
    let mut tx = agent_tx(&s).await?;
    Ok(Json(visible(&mut tx, &p, user).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `unclaimed`, `claimed` or `expired`.
    pub status: Option<String>,
    pub agent_id: Option<Uuid>,
    #[serde(default = "one")]
    pub page: u32,
    #[serde(default = "fifty")]
    pub limit: u32,
    /// `created_at` (default), `expires_at` or `claimed_at`.
    pub sort_by: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
}

fn one() -> u32 {
    1
}
fn fifty() -> u32 {
    50
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub current_page: u32,
    pub total_pages: i64,
    pub total_accounts: i64,
    pub per_page: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub total_unclaimed: i64,
    pub total_claimed: i64,
    pub total_expired: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistedList {
    pub accounts: Vec<AssistedAccount>,
    pub pagination: Pagination,
    pub summary: Summary,
}

/// Assisted accounts with filters, sorting, pagination and counts. Sales agents see only
/// the accounts they created.
#[utoipa::path(get, path = "/api/v1/auth/assisted-accounts", tag = "assisted accounts",
    security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = AssistedList), (status = 403, body = kit::ProblemBody)))]
pub async fn list_assisted(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<AssistedList>, Problem> {
    authorise(&p, "read")?;
    let status = match q.status.as_deref() {
        None => None,
        Some("unclaimed") => Some("assisted_unclaimed"),
        Some("claimed") => Some("claimed"),
        Some("expired") => Some("expired"),
        Some(_) => {
            return Err(Problem::invalid(
                "status",
                "must be unclaimed, claimed or expired",
            ));
        }
    };
    let sort = match q.sort_by.as_deref().unwrap_or("created_at") {
        c @ ("created_at" | "expires_at" | "claimed_at") => c,
        _ => {
            return Err(Problem::invalid(
                "sort_by",
                "must be created_at, expires_at or claimed_at",
            ));
        }
    };
    let order = match q.order.as_deref().unwrap_or("desc") {
        "asc" => "ASC",
        "desc" => "DESC",
        _ => return Err(Problem::invalid("order", "must be asc or desc")),
    };
    if q.page == 0 {
        return Err(Problem::invalid("page", "starts at 1"));
    }
    if !(1..=100).contains(&q.limit) {
        return Err(Problem::invalid("limit", "must be 1 to 100"));
    }
    // A sales agent's scope is its own accounts, whatever it asks for.
    let agent = if sees_all(&p) {
        q.agent_id
    } else {
        p.agent.as_ref().map(|a| a.agent_id)
    };
    let mut tx = agent_tx(&s).await?;
    let scoped = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM assisted_accounts a JOIN users u ON u.id = a.user_id \
         WHERE ($1::uuid IS NULL OR a.created_by_agent_id = $1)"
    );
    let summary = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FILTER (WHERE status = 'assisted_unclaimed'), count(*) FILTER (WHERE status = 'claimed'), \
         count(*) FILTER (WHERE status = 'expired') FROM ({scoped}) x"
    )))
    .bind(agent)
    .fetch_one(&mut *tx)
    .await?;
    let summary = Summary {
        total_unclaimed: summary.get(0),
        total_claimed: summary.get(1),
        total_expired: summary.get(2),
    };
    let total = match status {
        None => summary.total_unclaimed + summary.total_claimed + summary.total_expired,
        Some("claimed") => summary.total_claimed,
        Some("expired") => summary.total_expired,
        Some(_) => summary.total_unclaimed,
    };
    // sort and order come from the fixed lists above.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM ({scoped}) x WHERE ($2::text IS NULL OR status = $2) \
         ORDER BY {sort} {order} NULLS LAST, user_id LIMIT $3 OFFSET $4"
    )))
    .bind(agent)
    .bind(status)
    .bind(i64::from(q.limit))
    .bind(i64::from(q.page - 1) * i64::from(q.limit))
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(AssistedList {
        accounts: rows.iter().map(account).collect(),
        pagination: Pagination {
            current_page: q.page,
            total_pages: (total + i64::from(q.limit) - 1) / i64::from(q.limit),
            total_accounts: total,
            per_page: q.limit,
        },
        summary,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub claim_token: String,
    pub password: String,
    /// Must be `true`.
    pub accept_terms: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Claimed {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub company_name: String,
    pub account_status: &'static str,
    pub role: &'static str,
    pub dashboard_url: String,
    pub claimed_at: String,
    pub message: &'static str,
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// Claim an assisted account: set the password, become the organisation's admin.
#[utoipa::path(post, path = "/api/v1/auth/claim-account", tag = "assisted accounts", request_body = ClaimRequest,
    responses((status = 200, body = Claimed), (status = 400, body = kit::ProblemBody), (status = 429, body = kit::ProblemBody)))]
pub async fn claim_account(
    State(s): State<AppState>,
    ip: ClientIp,
    ua: UserAgent,
    Json(req): Json<ClaimRequest>,
) -> Result<Json<Claimed>, Problem> {
    let token = normalise_claim(&req.claim_token);
    let invalid = || Problem::bad_request("the claim link is invalid, used or expired");
    if token.len() > 64 {
        return Err(invalid());
    }
    let digest = security::digest(&token);
    s.limiter
        .enforce("claim", Subject::Key(&digest), Limit::per_hour(5))
        .await?;
    if !req.accept_terms {
        return Err(Problem::invalid(
            "accept_terms",
            "the terms must be accepted",
        ));
    }
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let row = sqlx::query(
        "SELECT a.user_id, a.organization_id, u.email, a.company_name, o.slug FROM assisted_accounts a \
         JOIN users u ON u.id = a.user_id JOIN organizations o ON o.id = a.organization_id \
         WHERE a.claim_token_hash = $1 AND a.claimed_at IS NULL AND a.expired_at IS NULL AND a.expires_at > now() \
         AND u.account_status = 'assisted_unclaimed'",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    drop(tx);
    let (user_id, org, email, company, slug): (Uuid, Uuid, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    security::check_password("password", &req.password, &email)?;
    let hash = security::hash_password(req.password).await?;
    let origin = Origin::new(ip, ua);
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    // Re-checked under the row lock: two claims at once cannot both succeed.
    let claimed_at: OffsetDateTime = sqlx::query_scalar(
        "UPDATE assisted_accounts SET claimed_at = now(), claim_token_hash = 'claimed:' || user_id::text \
         WHERE claim_token_hash = $1 AND claimed_at IS NULL AND expires_at > now() RETURNING claimed_at",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    sqlx::query(
        "UPDATE users SET password_hash = $2, account_status = 'claimed', email_verified = true, role = 'admin', updated_at = now() WHERE id = $1",
    )
    .bind(user_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE access_grants SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    outbox::publish(
        &mut tx,
        SOURCE,
        org,
        user_id,
        &v1::AssistedAccountClaimed {
            user_id: user_id.to_string(),
            organization_id: org.to_string(),
            email: email.clone(),
            claimed_at: rfc3339(claimed_at),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin,
        Entry::new("account_claimed").org(Some(org)).user(user_id),
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
    tx.commit().await.map_err(Problem::from)?;
    let dashboard = format!("{}/{slug}", s.app_url);
    s.send(mail::claimed(&email, &company, &dashboard)).await;
    Ok(Json(Claimed {
        user_id,
        organization_id: org,
        email,
        company_name: company,
        account_status: "claimed",
        role: "admin",
        dashboard_url: dashboard,
        claimed_at: rfc3339(claimed_at),
        message: "Account successfully claimed! You now have full access to your organization and all data created on your behalf.",
        tokens,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendClaim {
    #[serde(default)]
    pub custom_message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResent {
    pub user_id: Uuid,
    pub email: String,
    pub claim_url: String,
    pub email_sent: bool,
    pub sent_at: String,
    pub expires_at: String,
}

/// Send the claim link again. Tokens are stored only as digests, so a new one is issued and
/// the old link stops working.
#[utoipa::path(post, path = "/api/v1/auth/assisted-accounts/{user_id}/resend-claim", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = ResendClaim,
    responses((status = 200, body = ClaimResent), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
pub async fn resend_claim(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Path(user): Path<Uuid>,
    Json(req): Json<ResendClaim>,
) -> Result<Json<ClaimResent>, Problem> {
    authorise(&p, "update")?;
    let note = security::opt_text("custom_message", req.custom_message.as_deref(), 1000)?;
    let mut tx = agent_tx(&s).await?;
    let a = visible(&mut tx, &p, user).await?;
    if a.account_status != "assisted_unclaimed" {
        return Err(Problem::conflict(format!(
            "the account is {}",
            a.account_status
        )));
    }
    s.limiter
        .enforce(
            "resend-claim",
            Subject::Key(&user.to_string()),
            Limit::per_day(10),
        )
        .await?;
    let token = claim_token();
    sqlx::query("UPDATE assisted_accounts SET claim_token_hash = $2 WHERE user_id = $1")
        .bind(user)
        .bind(security::digest(&token))
        .execute(&mut *tx)
        .await?;
    outbox::publish(
        &mut tx,
        SOURCE,
        a.organization_id,
        user,
        &v1::ClaimLinkResent {
            user_id: user.to_string(),
            organization_id: a.organization_id.to_string(),
            resent_by: p.user_id.to_string(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &Origin::new(ip, ua),
        Entry::new("claim_link_resent")
            .org(Some(a.organization_id))
            .user(user)
            .actor(p.user_id),
    )
    .await?;
    let name: String =
        sqlx::query_scalar("SELECT client_name FROM assisted_accounts WHERE user_id = $1")
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await.map_err(Problem::from)?;
    let claim_url = format!("{}/claim/{token}", s.app_url);
    let sent = s
        .send(mail::claim(
            &a.email,
            &name,
            &a.company_name,
            &claim_url,
            &a.expires_at,
            note.as_deref(),
        ))
        .await;
    Ok(Json(ClaimResent {
        user_id: user,
        email: a.email,
        claim_url,
        email_sent: sent,
        sent_at: now_rfc3339(),
        expires_at: a.expires_at,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    pub reason: String,
    /// 1 to 72.
    pub duration_hours: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessGranted {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub temporary_access_token: String,
    pub access_type: &'static str,
    pub granted_to: Uuid,
    pub granted_at: String,
    pub expires_at: String,
    pub reason: String,
    pub audit_logged: bool,
}

/// Temporary admin access to an unclaimed assisted account (at most 72 hours, audited).
#[utoipa::path(post, path = "/api/v1/auth/assisted-accounts/{user_id}/access", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = AccessRequest,
    responses((status = 200, body = AccessGranted), (status = 404, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
pub async fn grant_access(
    State(s): State<AppState>,
    p: Principal,
    ip: ClientIp,
    ua: UserAgent,
    Path(user): Path<Uuid>,
    Json(req): Json<AccessRequest>,
) -> Result<Json<AccessGranted>, Problem> {
    authorise(&p, "update")?;
    let reason = security::text("reason", &req.reason, 3, 500)?;
    if !(1..=MAX_ACCESS_HOURS).contains(&req.duration_hours) {
        return Err(Problem::invalid("duration_hours", "must be 1 to 72"));
    }
    let mut tx = agent_tx(&s).await?;
    let a = visible(&mut tx, &p, user).await?;
    if a.account_status != "assisted_unclaimed" {
        return Err(Problem::conflict(
            "temporary access ends when the client claims the account",
        ));
    }
    let token = grant(
        &mut tx,
        &s,
        user,
        a.organization_id,
        p.user_id,
        &reason,
        req.duration_hours,
    )
    .await?;
    let now = OffsetDateTime::now_utc();
    outbox::publish(
        &mut tx,
        SOURCE,
        a.organization_id,
        user,
        &v1::AssistedAccountAccessGranted {
            user_id: user.to_string(),
            organization_id: a.organization_id.to_string(),
            granted_to: p.user_id.to_string(),
            reason: reason.clone(),
            duration_hours: u32::try_from(req.duration_hours).unwrap_or(0),
            timestamp: rfc3339(now),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &Origin::new(ip, ua),
        Entry::new("assisted_account_access_granted")
            .org(Some(a.organization_id))
            .user(user)
            .actor(p.user_id)
            .meta(json!({"reason": reason, "duration_hours": req.duration_hours})),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(AccessGranted {
        user_id: user,
        organization_id: a.organization_id,
        temporary_access_token: format!("temp_{token}"),
        access_type: "full_admin",
        granted_to: p.user_id,
        granted_at: rfc3339(now),
        expires_at: rfc3339(now + Duration::hours(i64::from(req.duration_hours))),
        reason,
        audit_logged: true,
    }))
}

/// Reminds clients 7 days before their assisted account expires, and at expiry locks the
/// account and publishes `assisted_account_expired` (platform admins are notified through it).
/// Runs every minute; each step is idempotent (`reminder_sent_at`, `expired_at`).
pub async fn expiry_sweep(s: &AppState) -> Result<(usize, usize), Problem> {
    let mut tx = store::begin(&s.db, Scope::system()).await?;
    let due = sqlx::query(
        "UPDATE assisted_accounts a SET reminder_sent_at = now() FROM users u \
         WHERE u.id = a.user_id AND a.claimed_at IS NULL AND a.expired_at IS NULL AND a.reminder_sent_at IS NULL \
         AND a.expires_at <= now() + interval '7 days' AND a.expires_at > now() \
         RETURNING u.email, a.company_name, a.expires_at",
    )
    .fetch_all(&mut *tx)
    .await?;
    let expired = sqlx::query(
        "UPDATE assisted_accounts SET expired_at = now() WHERE claimed_at IS NULL AND expired_at IS NULL \
         AND expires_at <= now() RETURNING user_id, organization_id, created_by_agent_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &expired {
        let (user, org, agent): (Uuid, Uuid, Uuid) = (r.get(0), r.get(1), r.get(2));
        sqlx::query("UPDATE users SET account_status = 'locked', updated_at = now() WHERE id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE access_grants SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user)
        .execute(&mut *tx)
        .await?;
        outbox::publish(
            &mut tx,
            SOURCE,
            org,
            user,
            &v1::AssistedAccountExpired {
                user_id: user.to_string(),
                organization_id: org.to_string(),
                created_by_agent_id: agent.to_string(),
                timestamp: now_rfc3339(),
            },
        )
        .await?;
        let origin = Origin {
            ip: "system".into(),
            user_agent: None,
        };
        audit::record(
            &mut tx,
            &origin,
            Entry::new("assisted_account_expired")
                .org(Some(org))
                .user(user),
        )
        .await?;
    }
    tx.commit().await.map_err(Problem::from)?;
    for r in &due {
        let (email, company, expires): (String, String, OffsetDateTime) =
            (r.get(0), r.get(1), r.get(2));
        s.send(mail::claim_reminder(
            &email,
            &company,
            &s.app_url,
            &rfc3339(expires),
        ))
        .await;
    }
    Ok((due.len(), expired.len()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn claim_tokens_carry_160_bits_in_a_readable_form() {
        let t = super::claim_token();
        assert_eq!(t.len(), "CLAIM-".len() + 4 * 8 + 3);
        assert!(t.starts_with("CLAIM-"));
        assert!(t[6..].chars().all(|c| c == '-'
            || (c.is_ascii_alphanumeric() && !"ILOU".contains(c) && !c.is_ascii_lowercase())));
        assert_ne!(t, super::claim_token());
    }
}
