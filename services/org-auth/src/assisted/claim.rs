//! Claiming an assisted account: the client sets a password with the single-use claim token
//! and becomes its organisation's admin; agents can send a new claim link meanwhile.
use axum::extract::{Path, State};
use kit::{
    Json, Origin, Problem, Timestamp, Uow, contracts::events::v1, input::OptText,
    revocation::Reason, sqlx::PgConnection,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    AssistedStatus, Assisting, Update,
    approval::{ApprovalStatus, require_approved},
    visible,
};
use crate::{
    AppState,
    audit::Entry,
    limits, mail, problems, rules, security,
    sessions::{self, Session},
};

/// `true`: the terms are accepted (nothing else is).
#[derive(Debug, Clone, Copy)]
pub struct Accepted;

impl<'de> Deserialize<'de> for Accepted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if bool::deserialize(d)? {
            Ok(Accepted)
        } else {
            Err(serde::de::Error::custom("the terms must be accepted"))
        }
    }
}

impl utoipa::PartialSchema for Accepted {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Boolean)
            .enum_values(Some([true]))
            .into()
    }
}
impl ToSchema for Accepted {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub claim_token: String,
    pub password: String,
    /// Must be `true`.
    pub accept_terms: Accepted,
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
    pub claimed_at: Timestamp,
    pub message: &'static str,
    /// Tokens, or the MFA step the sign-in owes when the organisation requires MFA.
    #[serde(flatten)]
    pub session: Session,
}

/// An account a claim token opens.
#[derive(sqlx::FromRow)]
struct Claimable {
    user_id: Uuid,
    organization_id: Uuid,
    email: String,
    company_name: String,
    slug: String,
    approval_status: ApprovalStatus,
}

impl Claimable {
    async fn find(conn: &mut PgConnection, digest: &str) -> Result<Option<Self>, Problem> {
        Ok(sqlx::query_as(
            "SELECT a.user_id, a.organization_id, u.email, a.company_name, o.slug, a.approval_status FROM assisted_accounts a \
             JOIN users u ON u.id = a.user_id JOIN organizations o ON o.id = a.organization_id \
             WHERE a.claim_token_hash = $1 AND a.claimed_at IS NULL AND a.expired_at IS NULL AND a.expires_at > now() \
             AND u.account_status = 'assisted_unclaimed'",
        )
        .bind(digest)
        .fetch_optional(conn)
        .await?)
    }

    /// Claims it with the token of `digest` — re-checked under the row lock, so two claims at
    /// once cannot both succeed, nor one with a rejection — and the password of `hash`: the
    /// client is its admin, the agents' temporary access ends. When it was claimed; `None` if it
    /// no longer can be.
    async fn claim(
        &self,
        uow: &mut Uow,
        s: &AppState,
        digest: &str,
        hash: &str,
    ) -> Result<Option<Timestamp>, Problem> {
        let claimed_at: Option<Timestamp> = sqlx::query_scalar(
            "UPDATE assisted_accounts SET claimed_at = now(), claim_token_hash = 'claimed:' || user_id::text, \
             claim_token_sealed = NULL WHERE claim_token_hash = $1 AND claimed_at IS NULL AND expires_at > now() \
             AND approval_status = 'approved' RETURNING claimed_at",
        )
        .bind(digest)
        .fetch_optional(&mut **uow)
        .await?;
        let Some(claimed_at) = claimed_at else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE users SET password_hash = $2, account_status = 'claimed', email_verified = true, role = 'admin', updated_at = now() WHERE id = $1",
        )
        .bind(self.user_id)
        .bind(hash)
        .execute(&mut **uow)
        .await?;
        // The agent's temporary access ends with the claim, at every verifier.
        s.revoking
            .grants_of(uow, self.user_id, Reason::AccountClaimed)
            .await?;
        let event = v1::AssistedAccountClaimed {
            user_id: self.user_id.to_string(),
            organization_id: self.organization_id.to_string(),
            email: self.email.clone(),
            claimed_at: claimed_at.to_string(),
        };
        uow.emit(self.organization_id, self.user_id, &event).await?;
        let entry = Entry::new("account_claimed").org(Some(self.organization_id));
        uow.audit(entry.user(self.user_id)).await?;
        Ok(Some(claimed_at))
    }
}

/// Claim an assisted account: set the password, become the organisation's admin. An account
/// still waiting for a platform admin's approval cannot be claimed yet (403 `approval-pending`).
#[utoipa::path(post, path = "/api/v1/auth/claim-account", tag = "assisted accounts", request_body = ClaimRequest,
    responses((status = 200, body = Claimed), (status = 400, body = kit::ProblemBody),
              (status = 403, body = kit::ProblemBody), (status = 429, body = kit::ProblemBody)))]
pub(super) async fn claim_account(
    State(s): State<AppState>,
    origin: Origin,
    Json(req): Json<ClaimRequest>,
) -> Result<Json<Claimed>, Problem> {
    let ClaimRequest {
        claim_token,
        password,
        accept_terms: Accepted,
    } = req;
    let invalid = || problems::CLAIM_INVALID.with("the claim link is invalid, used or expired");
    // As typed: case and surrounding spaces do not matter.
    let token = claim_token.trim().to_ascii_uppercase();
    if token.len() > 64 {
        return Err(invalid());
    }
    let digest = security::digest(&token);
    limits::CLAIM.spend(&s, &digest).await?;
    let account = Claimable::find(&mut *s.db.system().await?, &digest)
        .await?
        .ok_or_else(invalid)?;
    require_approved(account.approval_status)?;
    rules::password_policy("password", &password, &account.email)?;
    let hash = security::hash_password(password).await?;
    let mut uow = s.db.system().await?.from(&origin);
    let claimed_at = account
        .claim(&mut uow, &s, &digest, &hash)
        .await?
        .ok_or_else(invalid)?;
    let user = sessions::load_user(&mut uow, account.user_id)
        .await?
        .ok_or_else(invalid)?;
    let orgs = sessions::memberships(&mut uow, user.id).await?;
    let acting = sessions::pick_org(&orgs, Some(account.organization_id), None);
    let session = sessions::sign_in(&mut uow, &s, &user, acting).await?;
    let dashboard_url = format!("{}/{}", s.app_url, account.slug);
    let claimed = mail::claimed(&account.email, &account.company_name, &dashboard_url);
    s.mail.after_commit(&mut uow, claimed);
    uow.commit().await?;
    Ok(Json(Claimed {
        user_id: account.user_id,
        organization_id: account.organization_id,
        email: account.email,
        company_name: account.company_name,
        account_status: "claimed",
        role: "admin",
        dashboard_url,
        claimed_at,
        message: "Account successfully claimed! You now have full access to your organization and all data created on your behalf.",
        session,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendClaim {
    #[serde(default)]
    #[schema(inline)]
    pub custom_message: OptText<1000>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResent {
    pub user_id: Uuid,
    pub email: String,
    pub claim_url: String,
    pub email_sent: bool,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Send the claim link again. Tokens are stored only as digests, so a new one is issued and
/// the old link stops working. Only for an approved account (403 `approval-pending` before).
#[utoipa::path(post, path = "/api/v1/auth/assisted-accounts/{user_id}/resend-claim", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = ResendClaim,
    responses((status = 200, body = ClaimResent), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
pub(super) async fn resend_claim(
    State(s): State<AppState>,
    who: Assisting<Update>,
    origin: Origin,
    Path(user): Path<Uuid>,
    Json(req): Json<ResendClaim>,
) -> Result<Json<ClaimResent>, Problem> {
    let mut uow = who.begin(&s).await?.from(&origin);
    let a = visible(&mut uow, &who, user).await?;
    if a.account_status != AssistedStatus::AssistedUnclaimed {
        return Err(
            problems::ASSISTED_ACCOUNT_CLOSED.with(format!("the account is {}", a.account_status))
        );
    }
    require_approved(a.approval_status)?;
    limits::CLAIM_RESENDS.spend(&s, &user.to_string()).await?;
    let token = security::claim_token();
    sqlx::query(
        "UPDATE assisted_accounts SET claim_token_hash = $2, claim_token_sealed = $3 WHERE user_id = $1",
    )
    .bind(user)
    .bind(security::digest(&token))
    .bind(super::seal_claim(&s, user, &token)?)
        .execute(&mut *uow)
        .await?;
    let org = a.organization_id;
    let event = v1::ClaimLinkResent {
        user_id: user.to_string(),
        organization_id: org.to_string(),
        resent_by: who.principal.user_id.to_string(),
    };
    uow.emit(org, user, &event).await?;
    let entry = Entry::new("claim_link_resent").org(Some(org)).user(user);
    uow.audit(entry.by_actor()).await?;
    let name: String =
        sqlx::query_scalar("SELECT client_name FROM assisted_accounts WHERE user_id = $1")
            .bind(user)
            .fetch_one(&mut *uow)
            .await?;
    uow.commit().await?;
    let claim_url = format!("{}/claim/{token}", s.app_url);
    let (expires, note) = (a.expires_at.to_string(), req.custom_message.as_deref());
    let claim = mail::claim(&a.email, &name, &a.company_name, &claim_url, &expires, note);
    // The answer says whether the mail went out, so it is sent here, not after commit.
    let email_sent = s.mail.send(claim).await;
    Ok(Json(ClaimResent {
        user_id: user,
        email: a.email,
        claim_url,
        email_sent,
        sent_at: Timestamp::now(),
        expires_at: a.expires_at,
    }))
}
