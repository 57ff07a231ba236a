//! Assisted accounts (spec §0, endpoints 11–16): a platform admin — or a sales agent holding
//! `assisted_signup.create` — creates a client's user and organisation (`setup`); a platform
//! admin approves a sales agent's account before its claim link goes out and its temporary
//! access works (`approval`); the client claims the account with a single-use token within 30
//! days (`claim`); unclaimed accounts are reminded, then expire (`expiry`). Here: who may manage
//! them, and reading them.
use std::marker::PhantomData;

use axum::{
    extract::{FromRequestParts, Path, State},
    http::request::Parts,
};
use kit::{
    Json, Problem, Query, Timestamp, Uow,
    auth::Principal,
    input::{Limit, Offset},
    sqlx::PgConnection,
    store::Scope,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState,
    rules::{Page, vocabulary},
};

mod approval;
mod claim;
mod expiry;
mod setup;

pub use approval::ApprovalStatus;
pub(crate) use approval::Approvals;
pub(crate) use expiry::sweep as expiry_sweep;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup::assisted_signup))
        .routes(routes!(list_assisted))
        .routes(routes!(get_assisted))
        .routes(routes!(claim::claim_account))
        .routes(routes!(claim::resend_claim))
        .routes(routes!(setup::grant_access))
        .routes(routes!(approval::approve))
        .routes(routes!(approval::reject))
}

/// What managing assisted accounts takes: `assisted_signup.<NAME>`.
pub(crate) trait Permission {
    const NAME: &'static str;
}
pub(crate) struct Create;
impl Permission for Create {
    const NAME: &'static str = "create";
}
pub(crate) struct Read;
impl Permission for Read {
    const NAME: &'static str = "read";
}
pub(crate) struct Update;
impl Permission for Update {
    const NAME: &'static str = "update";
}

/// A platform agent allowed to manage assisted accounts with `A`: platform admins always,
/// agents holding `assisted_signup.<A>`. Checked before the body is read.
pub(crate) struct Assisting<A> {
    pub principal: Principal,
    pub agent_id: Uuid,
    _permission: PhantomData<A>,
}

impl<A: Permission, S: Send + Sync> FromRequestParts<S> for Assisting<A> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Problem> {
        let principal = Principal::from_request_parts(parts, s).await?;
        let Some(agent_id) = principal.agent.as_ref().map(|a| a.agent_id) else {
            return Err(Problem::forbidden(
                "assisted accounts are managed by platform agents",
            ));
        };
        principal.require_permission("assisted_signup", A::NAME)?;
        Ok(Assisting {
            principal,
            agent_id,
            _permission: PhantomData,
        })
    }
}

impl<A> Assisting<A> {
    /// Sales agents see only the accounts assigned to them; platform admins see all.
    fn sees_all(&self) -> bool {
        self.principal.is_platform_admin()
    }

    /// Whose accounts the caller sees: its own agent's, or (platform admins) everyone's.
    fn seen_agent(&self) -> Option<Uuid> {
        (!self.sees_all()).then_some(self.agent_id)
    }

    /// A unit of work across the organisations agents serve, acted by this agent.
    async fn begin(&self, s: &AppState) -> Result<Uow, Problem> {
        Ok(s.db.begin(Scope::agent(None)).await?.by(&self.principal))
    }
}

/// Where an assisted account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AssistedStatus {
    AssistedUnclaimed,
    Claimed,
    Expired,
}

vocabulary!(AssistedStatus, "must be assisted_unclaimed, claimed or expired", {
    AssistedUnclaimed => "assisted_unclaimed", Claimed => "claimed", Expired => "expired",
});

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AssistedAccount {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub company_name: String,
    /// `assisted_unclaimed`, `claimed` or `expired`.
    pub account_status: AssistedStatus,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub claimed_at: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    pub notes: Option<String>,
    /// `pending` (a platform admin must approve it), `approved` or `rejected`.
    pub approval_status: ApprovalStatus,
    /// The platform admin who decided (null while pending, and when approved automatically).
    pub approval_decided_by: Option<Uuid>,
    pub approval_decided_at: Option<Timestamp>,
}

/// An assisted account's [`AssistedStatus`] from `assisted_accounts a` (a literal).
macro_rules! status_column {
    () => {
        "CASE WHEN a.claimed_at IS NOT NULL THEN 'claimed' \
              WHEN a.expired_at IS NOT NULL OR a.expires_at <= now() THEN 'expired' \
              ELSE 'assisted_unclaimed' END"
    };
}
pub(crate) use status_column;

/// An [`AssistedAccount`] by name, from `assisted_accounts a JOIN users u` (a literal, so
/// queries stay literal SQL).
macro_rules! account_columns {
    () => {
        concat!(
            "a.user_id, a.organization_id, u.email, a.company_name, ",
            status_column!(),
            " AS account_status, \
             a.created_by_agent_id AS created_by, a.created_at, a.expires_at, a.claimed_at, \
             greatest(a.last_activity_at, u.last_login_at) AS last_activity, a.notes, \
             a.approval_status, a.approval_decided_by, a.approval_decided_at"
        )
    };
}
/// What a claim token is sealed for (bound with the account's user id).
const CLAIM_SEAL: &[u8] = b"assisted-claim-token";

/// The claim token sealed for `user` (AES-256-GCM under the service's MFA key), kept beside
/// its digest so an account's agents can be shown its link again; a database copy alone never
/// yields a working link.
fn seal_claim(s: &AppState, user: Uuid, token: &str) -> Result<String, Problem> {
    s.mfa.seal_for(CLAIM_SEAL, user, token.as_bytes())
}

/// The claim link of `user`'s sealed token, if it still opens (accounts from before tokens
/// were sealed have none).
fn claim_link(s: &AppState, user: Uuid, sealed: Option<&str>) -> Option<(String, String)> {
    let plain = s.mfa.open_for(CLAIM_SEAL, user, sealed?).ok()?;
    let token = String::from_utf8(plain).ok()?;
    let url = format!("{}/claim/{token}", s.app_url);
    Some((token, url))
}

/// The calling agent's name, as its login here records it (agent logins are created through
/// org-auth; an agent without one here has no name to give).
async fn agent_name<A>(
    conn: &mut PgConnection,
    who: &Assisting<A>,
) -> Result<Option<String>, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT full_name FROM users WHERE user_type = 'agent' AND (id = $1 OR agent_id = $2) \
         ORDER BY (id = $1) DESC LIMIT 1",
    )
    .bind(who.principal.user_id)
    .bind(who.agent_id)
    .fetch_optional(conn)
    .await?)
}

/// Whether the account of `a` is assigned to agent `$p`: human-agent's assignments of it that
/// have not ended (`assignments`); before the first of them has arrived, its creator's (who is
/// assigned it first).
macro_rules! assigned_to {
    ($p:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM agent_assignments x WHERE x.client_id = a.user_id \
               AND x.agent_id = ",
            $p,
            " AND x.ended_at IS NULL) \
             OR (a.created_by_agent_id = ",
            $p,
            " AND NOT EXISTS \
               (SELECT 1 FROM agent_assignments x WHERE x.client_id = a.user_id)))"
        )
    };
}

/// Loads an assisted account the caller may see (else 404): sales agents, those assigned to
/// them.
async fn visible<A>(
    conn: &mut PgConnection,
    who: &Assisting<A>,
    user: Uuid,
) -> Result<AssistedAccount, Problem> {
    sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM assisted_accounts a JOIN users u ON u.id = a.user_id WHERE a.user_id = $1 \
           AND ($2::uuid IS NULL OR ",
        assigned_to!("$2"),
        ")"
    ))
    .bind(user)
    .bind(who.seen_agent())
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Problem::not_found("assisted account"))
}

/// One assisted account with its current claim link while it can still be claimed.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssistedDetail {
    #[serde(flatten)]
    pub account: AssistedAccount,
    /// The current claim token; null once claimed or expired.
    pub claim_token: Option<String>,
    /// The current claim link; null once claimed or expired.
    pub claim_url: Option<String>,
}

/// One assisted account (platform admins; agents with `assisted_signup.read`, their own), with
/// its claim link while it is unclaimed.
#[utoipa::path(get, path = "/api/v1/auth/assisted-accounts/{user_id}", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)),
    responses((status = 200, body = AssistedDetail), (status = 404, body = kit::ProblemBody)))]
async fn get_assisted(
    State(s): State<AppState>,
    who: Assisting<Read>,
    Path(user): Path<Uuid>,
) -> Result<Json<AssistedDetail>, Problem> {
    let mut uow = who.begin(&s).await?;
    let account = visible(&mut uow, &who, user).await?;
    let sealed: Option<String> =
        sqlx::query_scalar("SELECT claim_token_sealed FROM assisted_accounts WHERE user_id = $1")
            .bind(user)
            .fetch_one(&mut *uow)
            .await?;
    let link = (account.account_status == AssistedStatus::AssistedUnclaimed)
        .then(|| claim_link(&s, user, sealed.as_deref()))
        .flatten();
    let (claim_token, claim_url) = link.unzip();
    Ok(Json(AssistedDetail {
        account,
        claim_token,
        claim_url,
    }))
}

/// Which accounts a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    Unclaimed,
    Claimed,
    Expired,
}

vocabulary!(Filter, "must be unclaimed, claimed or expired", {
    Unclaimed => "unclaimed", Claimed => "claimed", Expired => "expired",
});

impl Filter {
    fn status(self) -> AssistedStatus {
        match self {
            Filter::Unclaimed => AssistedStatus::AssistedUnclaimed,
            Filter::Claimed => AssistedStatus::Claimed,
            Filter::Expired => AssistedStatus::Expired,
        }
    }
}

/// What a listing is sorted by (a column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub enum SortBy {
    #[default]
    #[serde(rename = "created_at")]
    Created,
    #[serde(rename = "expires_at")]
    Expires,
    #[serde(rename = "claimed_at")]
    Claimed,
}

vocabulary!(SortBy, "must be created_at, expires_at or claimed_at", {
    Created => "created_at", Expires => "expires_at", Claimed => "claimed_at",
});

/// A listing's direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

vocabulary!(Order, "must be asc or desc", { Asc => "asc", Desc => "desc" });

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `unclaimed`, `claimed` or `expired`.
    #[serde(default)]
    #[param(value_type = Option<Filter>, inline)]
    pub status: Option<Filter>,
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    /// `pending` (the platform admins' queue), `approved` or `rejected`.
    #[serde(default)]
    #[param(value_type = Option<ApprovalStatus>, inline)]
    pub approval_status: Option<ApprovalStatus>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub page: Option<Page>,
    /// Rows to skip, instead of `page`.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 0, maximum = 100000000)]
    pub offset: Option<Offset>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Limit<50, 100>,
    /// `created_at` (default), `expires_at` or `claimed_at`.
    #[serde(default)]
    #[param(value_type = Option<SortBy>, inline)]
    pub sort_by: SortBy,
    /// `desc` (default) or `asc`.
    #[serde(default)]
    #[param(value_type = Option<Order>, inline)]
    pub order: Order,
}

impl ListQuery {
    /// The rows skipped: by `offset`, or by `page` (the first by default); not both.
    fn skipped(&self) -> Result<u32, Problem> {
        match (self.page, self.offset) {
            (Some(_), Some(_)) => Err(Problem::invalid("offset", "give page or offset, not both")),
            (None, Some(offset)) => Ok(offset.get()),
            (page, None) => {
                let skipped = page.unwrap_or_default().offset(self.limit.get());
                Ok(u32::try_from(skipped).unwrap_or(u32::MAX))
            }
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub current_page: u32,
    pub total_pages: i64,
    pub total_accounts: i64,
    pub per_page: u32,
    /// The rows skipped before this page.
    pub offset: u32,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Summary {
    pub total_unclaimed: i64,
    pub total_claimed: i64,
    pub total_expired: i64,
}

impl Summary {
    fn total(&self, filter: Option<Filter>) -> i64 {
        match filter {
            None => self.total_unclaimed + self.total_claimed + self.total_expired,
            Some(Filter::Unclaimed) => self.total_unclaimed,
            Some(Filter::Claimed) => self.total_claimed,
            Some(Filter::Expired) => self.total_expired,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistedList {
    pub accounts: Vec<AssistedAccount>,
    pub pagination: Pagination,
    pub summary: Summary,
}

/// The accounts an agent's listing covers: those assigned to it, or (platform admins) to one
/// agent, or all; of one approval status (`$2`) or any.
macro_rules! scoped_accounts {
    () => {
        concat!(
            "SELECT ",
            account_columns!(),
            " FROM assisted_accounts a JOIN users u ON u.id = a.user_id \
             WHERE ($1::uuid IS NULL OR ",
            assigned_to!("$1"),
            ") AND ($2::text IS NULL OR a.approval_status = $2)"
        )
    };
}

/// Assisted accounts with filters, sorting, pagination (`page` or `offset`) and counts. Sales
/// agents see only the accounts assigned to them (`agent_id` filters by the assigned agent);
/// `approval_status=pending` is the platform admins' queue of accounts to approve. The summary
/// counts the accounts of the approval status asked for.
#[utoipa::path(get, path = "/api/v1/auth/assisted-accounts", tag = "assisted accounts",
    security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = AssistedList), (status = 403, body = kit::ProblemBody)))]
async fn list_assisted(
    State(s): State<AppState>,
    who: Assisting<Read>,
    Query(q): Query<ListQuery>,
) -> Result<Json<AssistedList>, Problem> {
    // A sales agent's scope is the accounts assigned to it, whatever it asks for.
    let agent = who.seen_agent().or(q.agent_id);
    let status = q.status.map(|f| f.status().as_str());
    let approval = q.approval_status.map(ApprovalStatus::as_str);
    let skipped = q.skipped()?;
    let mut uow = who.begin(&s).await?;
    let summary: Summary = sqlx::query_as(concat!(
        "SELECT count(*) FILTER (WHERE account_status = 'assisted_unclaimed') AS total_unclaimed, \
         count(*) FILTER (WHERE account_status = 'claimed') AS total_claimed, \
         count(*) FILTER (WHERE account_status = 'expired') AS total_expired FROM (",
        scoped_accounts!(),
        ") x"
    ))
    .bind(agent)
    .bind(approval)
    .fetch_one(&mut *uow)
    .await?;
    let total = summary.total(q.status);
    // The sort column and direction come from the closed vocabularies above.
    let accounts: Vec<AssistedAccount> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        concat!(
            "SELECT * FROM (",
            scoped_accounts!(),
            ") x WHERE ($3::text IS NULL OR account_status = $3) \
             ORDER BY {} {} NULLS LAST, user_id LIMIT $4 OFFSET $5"
        ),
        q.sort_by.as_str(),
        q.order.as_str().to_ascii_uppercase()
    )))
    .bind(agent)
    .bind(approval)
    .bind(status)
    .bind(q.limit.as_i64())
    .bind(i64::from(skipped))
    .fetch_all(&mut *uow)
    .await?;
    let per_page = q.limit.as_i64();
    Ok(Json(AssistedList {
        accounts,
        pagination: Pagination {
            current_page: skipped / q.limit.get() + 1,
            total_pages: (total + per_page - 1) / per_page,
            total_accounts: total,
            per_page: q.limit.get(),
            offset: skipped,
        },
        summary,
    }))
}
