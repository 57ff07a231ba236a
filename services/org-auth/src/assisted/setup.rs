//! Setting an assisted account up: the client's user and organisation, created by an agent,
//! and the temporary admin access agents use to prepare it until it is claimed.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Origin, Problem, Timestamp, Uow,
    auth::Claims,
    contracts::events::v1,
    input::{Email, OptText, Text},
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    AssistedStatus, Assisting, Create, Update,
    approval::{ASSISTED_ACCESS, ApprovalStatus, require_approved},
    visible,
};
use crate::{
    AppState,
    accounts::{self, NewOrganization},
    audit::Entry,
    limits, mail, problems,
    rules::{OptUrl, Permissions, Role, WorkEmail},
    security, sessions,
};

/// How long a client has to claim the account.
pub const CLAIM_TTL: Duration = Duration::days(30);

/// The address an agent enters for a client: a work email, or an address at one of the
/// documentation domains of RFC 2606 (`example.com`, `example.net`, `example.org`, as in the
/// spec's own example). Self-service signup refuses those with the disposable domains; here
/// they are safe to accept: the disposable rule keeps claim links out of public throwaway
/// inboxes, where anyone could claim the account, while a documentation domain has no mailbox
/// at all (example.com publishes a null MX), so its claim link reaches nobody and the account
/// simply expires unclaimed. Agents use such accounts to prepare demonstrations.
#[derive(Debug, Clone)]
pub struct ClientEmail(String);

impl ClientEmail {
    fn parse(raw: &str) -> Result<Self, String> {
        const DOCUMENTATION: [&str; 3] = ["example.com", "example.net", "example.org"];
        let email = Email::parse(raw)?;
        if DOCUMENTATION.contains(&email.domain()) {
            return Ok(ClientEmail(email.as_str().to_string()));
        }
        WorkEmail::parse(raw).map(|w| ClientEmail(w.to_string()))
    }
}

impl std::ops::Deref for ClientEmail {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientEmail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ClientEmail::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ClientEmail {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        Email::schema()
    }
}
impl ToSchema for ClientEmail {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistedSignup {
    pub client_email: ClientEmail,
    #[schema(inline)]
    pub client_name: Text<1, 200>,
    #[schema(inline)]
    pub company_name: Text<2, 100>,
    #[serde(default)]
    pub company_website: OptUrl,
    #[serde(default)]
    #[schema(inline)]
    pub industry: OptText<100>,
    #[serde(default)]
    #[schema(inline)]
    pub company_size: OptText<20>,
    /// Must be the caller's own agent id when given (the verified token decides).
    #[serde(default)]
    pub created_by_agent_id: Option<Uuid>,
    #[serde(default)]
    #[schema(inline)]
    pub notes: OptText<5000>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistedCreated {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub account_status: AssistedStatus,
    /// Shown once: only its digest is stored.
    pub claim_token: String,
    pub claim_url: String,
    /// `temp_` + a token acting as the account's admin for 24 hours (audited); null while the
    /// account waits for approval (`POST …/access` issues one once it is approved).
    pub temporary_access_token: Option<String>,
    pub expires_at: Timestamp,
    pub created_by_agent_id: Uuid,
    /// The creating agent's name as its login records it (null for an agent without one here).
    pub created_by_agent_name: Option<String>,
    pub created_by_agent_role: String,
    pub created_at: Timestamp,
    pub dashboard_url: String,
    pub message: &'static str,
    /// `pending`: a platform admin approves the account before its claim link is mailed and
    /// temporary access is granted; `approved` (a platform admin's own account, or approval is
    /// automatic).
    pub approval_status: ApprovalStatus,
}

/// Create a client's account on their behalf (platform admins, or agents with
/// `assisted_signup.create`). Publishes `assisted_account_created`. A sales agent's account
/// waits for a platform admin's approval (`approval_status: pending`): its claim link is mailed
/// once approved, and no temporary access token is issued before (`POST …/access` issues one
/// then). A platform admin's own is approved.
#[utoipa::path(post, path = "/api/v1/auth/assisted-signup", tag = "assisted accounts",
    security(("bearer" = [])), request_body = AssistedSignup,
    responses((status = 201, body = AssistedCreated), (status = 403, body = kit::ProblemBody),
              (status = 409, body = kit::ProblemBody)))]
pub(super) async fn assisted_signup(
    State(s): State<AppState>,
    who: Assisting<Create>,
    origin: Origin,
    Json(req): Json<AssistedSignup>,
) -> Result<(StatusCode, Json<AssistedCreated>), Problem> {
    if req.created_by_agent_id.is_some_and(|a| a != who.agent_id) {
        return Err(Problem::invalid(
            "created_by_agent_id",
            "must be your own agent id",
        ));
    }
    limits::ASSISTED_SIGNUPS
        .spend(&s, &who.agent_id.to_string())
        .await?;
    let new = Setup::new(&who, &req, s.approvals.initial(&who.principal));
    let mut uow = who.begin(&s).await?.from(&origin);
    if sessions::load_user_by_email(&mut uow, &req.client_email)
        .await?
        .is_some()
    {
        return Err(problems::EMAIL_TAKEN.with("an account already exists for this email"));
    }
    let slug = accounts::free_slug(&mut uow, &req.company_name).await?;
    let temp = new.create(&mut uow, &s, &slug).await?;
    let agent_name = super::agent_name(&mut uow, &who).await?;
    let claim_url = format!("{}/claim/{}", s.app_url, new.token);
    let expires = new.expires_at.to_string();
    let (name, company) = (&req.client_name, &req.company_name);
    if new.approval == ApprovalStatus::Approved {
        let claim = mail::claim(&req.client_email, name, company, &claim_url, &expires, None);
        s.mail.after_commit(&mut uow, claim);
    }
    uow.commit().await?;
    let dashboard_url = format!("{}/{slug}", s.app_url);
    let temp = temp.map(|t| format!("temp_{t}"));
    let mut answer = new.answer(claim_url, temp, dashboard_url);
    answer.created_by_agent_name = agent_name;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// An assisted account being set up by an agent.
struct Setup<'a> {
    who: &'a Assisting<Create>,
    req: &'a AssistedSignup,
    user: Uuid,
    org: Uuid,
    agent_role: String,
    token: String,
    now: Timestamp,
    expires_at: Timestamp,
    approval: ApprovalStatus,
}

impl<'a> Setup<'a> {
    fn new(who: &'a Assisting<Create>, req: &'a AssistedSignup, approval: ApprovalStatus) -> Self {
        let p = &who.principal;
        let agent_role = (p.agent.as_ref())
            .and_then(|a| a.primary_role.clone())
            .unwrap_or_else(|| p.role.clone());
        let (user, org) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, now) = (security::claim_token(), Timestamp::now());
        Setup {
            who,
            req,
            user,
            org,
            agent_role,
            token,
            now,
            expires_at: now + CLAIM_TTL,
            approval,
        }
    }

    /// The organisation (at `slug`), the client's login as its admin, the account's record,
    /// 24 hours of access for the agent once approved, the events and the audit entry; the
    /// temporary token (none while pending).
    async fn create(
        &self,
        uow: &mut Uow,
        s: &AppState,
        slug: &str,
    ) -> Result<Option<String>, Problem> {
        let req = self.req;
        let org = NewOrganization {
            id: self.org,
            name: &req.company_name,
            slug,
            website: req.company_website.as_deref(),
            industry: req.industry.as_deref(),
            company_size: req.company_size.as_deref(),
            logo_url: None,
            created_by: self.who.principal.user_id,
        };
        org.insert(uow).await?;
        self.create_client(uow).await?;
        self.record(uow, s).await?;
        // No token before the approval: every verifier of the fleet would take it, and
        // temporary admin access is what the approval is for (spec §0, "Approval Workflows" 9).
        let temp = match self.approval {
            ApprovalStatus::Approved => {
                Some(grant(uow, s, self.user, self.org, "assisted signup set-up", 24).await?)
            }
            _ => None,
        };
        let created = v1::AssistedAccountCreated {
            user_id: self.user.to_string(),
            organization_id: self.org.to_string(),
            client_email: req.client_email.to_string(),
            created_by_agent_id: self.who.agent_id.to_string(),
            created_by_agent_role: self.agent_role.clone(),
            expires_at: self.expires_at.to_string(),
            approval_status: self.approval.to_string(),
        };
        uow.emit(self.org, self.user, &created).await?;
        // The organisation exists now like any other: research starts from this event.
        uow.emit(self.org, self.org, &org.created(self.user))
            .await?;
        let meta = json!({"agent_id": self.who.agent_id, "agent_role": self.agent_role,
                          "approval_status": self.approval});
        let entry = Entry::new("assisted_account_created").org(Some(self.org));
        uow.audit(entry.user(self.user).by_actor().meta(meta))
            .await?;
        Ok(temp)
    }

    /// The client's login (no password until claimed) as the admin of its organisation.
    async fn create_client(&self, uow: &mut Uow) -> Result<(), Problem> {
        sqlx::query(
            "INSERT INTO users (id, email, full_name, user_type, organization_id, role, account_status, created_by_agent_id) \
             VALUES ($1, $2, $3, 'client', $4, 'admin', 'assisted_unclaimed', $5)",
        )
        .bind(self.user)
        .bind(&*self.req.client_email)
        .bind(self.req.client_name.as_str())
        .bind(self.org)
        .bind(self.who.agent_id)
        .execute(&mut **uow)
        .await?;
        let admin = Role::Admin;
        accounts::add_member(uow, self.user, self.org, admin, &Permissions::of(admin)).await?;
        Ok(())
    }

    /// The assisted account's own record: who created it, the claim token (its digest to find
    /// it by, and sealed so its agents can be shown the link again), the expiry, the approval
    /// (a platform admin approves its own; approved automatically, by nobody).
    async fn record(&self, uow: &mut Uow, s: &AppState) -> Result<(), Problem> {
        let approved = self.approval == ApprovalStatus::Approved;
        let p = &self.who.principal;
        let approver =
            (approved && p.is_platform_admin()).then_some((p.user_id, self.who.agent_id));
        sqlx::query(
            "INSERT INTO assisted_accounts (user_id, organization_id, client_name, company_name, notes, created_by_agent_id, \
             created_by_user_id, created_by_agent_role, claim_token_hash, expires_at, claim_token_sealed, \
             approval_status, approval_decided_by, approval_decided_by_agent_id, approval_decided_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
        )
        .bind(self.user)
        .bind(self.org)
        .bind(self.req.client_name.as_str())
        .bind(self.req.company_name.as_str())
        .bind(self.req.notes.as_deref())
        .bind(self.who.agent_id)
        .bind(self.who.principal.user_id)
        .bind(&self.agent_role)
        .bind(security::digest(&self.token))
        .bind(self.expires_at)
        .bind(super::seal_claim(s, self.user, &self.token)?)
        .bind(self.approval)
        .bind(approver.map(|a| a.0))
        .bind(approver.map(|a| a.1))
        .bind(approved.then_some(self.now))
        .execute(&mut **uow)
        .await?;
        Ok(())
    }

    fn answer(
        self,
        claim_url: String,
        temp: Option<String>,
        dashboard_url: String,
    ) -> AssistedCreated {
        AssistedCreated {
            user_id: self.user,
            organization_id: self.org,
            email: self.req.client_email.to_string(),
            account_status: AssistedStatus::AssistedUnclaimed,
            claim_token: self.token,
            claim_url,
            temporary_access_token: temp,
            expires_at: self.expires_at,
            created_by_agent_id: self.who.agent_id,
            created_by_agent_name: None,
            created_by_agent_role: self.agent_role,
            created_at: self.now,
            dashboard_url,
            message: match self.approval {
                ApprovalStatus::Approved => {
                    "Account created. Client can claim within 30 days using the claim link."
                }
                _ => {
                    "Account created, waiting for a platform admin's approval: the claim link is \
                     sent and temporary access can be granted once it is approved."
                }
            },
            approval_status: self.approval,
        }
    }
}

/// Issues a temporary admin token for an assisted account, acted by the unit of work's actor,
/// and records the grant.
async fn grant(
    uow: &mut Uow,
    s: &AppState,
    user: Uuid,
    org: Uuid,
    reason: &str,
    hours: i32,
) -> Result<String, Problem> {
    let granted_to = uow
        .actor()
        .user_id
        .ok_or_else(|| Problem::internal("a grant without an acting user"))?;
    let jti = Uuid::now_v7().to_string();
    let grant = Uuid::now_v7();
    let now = Timestamp::now();
    let mut c = Claims::client(user, Some(org), "admin");
    c.scope = Some(ASSISTED_ACCESS.into());
    // The grant is the token's session: revoking it (claim, expiry) refuses the token.
    c.sid = Some(grant);
    c.jti = jti.clone();
    c.iat = now.0.unix_timestamp();
    c.nbf = c.iat;
    c.exp = c.iat + i64::from(hours) * 3600;
    c.act = Some(granted_to);
    let token = s.signer.sign_with_defaults(c)?;
    sqlx::query(
        "INSERT INTO access_grants (id, user_id, organization_id, granted_to, reason, duration_hours, jti, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(grant)
    .bind(user)
    .bind(org)
    .bind(granted_to)
    .bind(reason)
    .bind(hours)
    .bind(&jti)
    .bind(now + Duration::hours(i64::from(hours)))
    .execute(&mut **uow)
    .await?;
    Ok(token)
}

/// Hours of temporary access: 1 to 72.
#[derive(Debug, Clone, Copy)]
pub struct Hours(i32);

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i32::deserialize(d)?;
        if (1..=72).contains(&n) {
            Ok(Hours(n))
        } else {
            Err(serde::de::Error::custom("must be 1 to 72"))
        }
    }
}

impl utoipa::PartialSchema for Hours {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(72))
            .into()
    }
}
impl ToSchema for Hours {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    #[schema(inline)]
    pub reason: Text<3, 500>,
    /// 1 to 72.
    pub duration_hours: Hours,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessGranted {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub temporary_access_token: String,
    pub access_type: &'static str,
    pub granted_to: Uuid,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    pub reason: String,
    pub audit_logged: bool,
}

/// Temporary admin access to an unclaimed assisted account (at most 72 hours, audited).
#[utoipa::path(post, path = "/api/v1/auth/assisted-accounts/{user_id}/access", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = AccessRequest,
    responses((status = 200, body = AccessGranted), (status = 404, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
pub(super) async fn grant_access(
    State(s): State<AppState>,
    who: Assisting<Update>,
    origin: Origin,
    Path(user): Path<Uuid>,
    Json(req): Json<AccessRequest>,
) -> Result<Json<AccessGranted>, Problem> {
    let Hours(hours) = req.duration_hours;
    let mut uow = who.begin(&s).await?.from(&origin);
    let a = visible(&mut uow, &who, user).await?;
    if a.account_status != AssistedStatus::AssistedUnclaimed {
        return Err(problems::ASSISTED_ACCOUNT_CLOSED
            .with("temporary access ends when the client claims the account"));
    }
    // Temporary admin access needs a platform admin's approval of the account.
    require_approved(a.approval_status)?;
    let org = a.organization_id;
    let token = grant(&mut uow, &s, user, org, &req.reason, hours).await?;
    let now = Timestamp::now();
    let granted = v1::AssistedAccountAccessGranted {
        user_id: user.to_string(),
        organization_id: org.to_string(),
        granted_to: who.principal.user_id.to_string(),
        reason: req.reason.to_string(),
        duration_hours: u32::try_from(hours).unwrap_or(0),
    };
    uow.emit(org, user, &granted).await?;
    let meta = json!({"reason": req.reason, "duration_hours": hours});
    let entry = Entry::new("assisted_account_access_granted")
        .org(Some(org))
        .user(user);
    uow.audit(entry.by_actor().meta(meta)).await?;
    uow.commit().await?;
    Ok(Json(AccessGranted {
        user_id: user,
        organization_id: org,
        temporary_access_token: format!("temp_{token}"),
        access_type: "full_admin",
        granted_to: who.principal.user_id,
        granted_at: now,
        expires_at: now + Duration::hours(i64::from(hours)),
        reason: req.reason.into_inner(),
        audit_logged: true,
    }))
}
