//! Platform-admin approval of assisted accounts (spec §0, "Approval Workflows": 6. assisted
//! account creation and 9. temporary admin access need a platform admin's approval). An account
//! a sales agent creates is `pending`: its claim link is not mailed, it cannot be claimed, its
//! link is not resent and no temporary access is issued for it (403 `approval-pending`) until a
//! platform admin approves it. No temporary token exists before the approval, so there is
//! nothing for the fleet's verifiers to refuse and no check on any request's path. Approving
//! mails the claim link; rejecting disables the account. A platform admin's own accounts — and
//! every account when `ORG_AUTH_ASSISTED_APPROVAL=auto` — are approved as they are created.
use axum::extract::{Path, State};
use kit::{
    Json, Origin, Problem, Timestamp, Uow,
    auth::Principal,
    contracts::events::v1,
    input::{OptText, Text},
    store::Scope,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AssistedStatus, setup::CLAIM_TTL};
use crate::{
    AppState, access::PlatformAdmin, audit::Entry, mail, problems, rules::vocabulary, security,
    settings::ApprovalMode,
};

/// What a temporary access token says it is for (`setup::grant` issues them).
pub(super) const ASSISTED_ACCESS: &str = "assisted_access";

/// Where an assisted account's approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
}

vocabulary!(ApprovalStatus, "must be pending, approved or rejected", {
    Pending => "pending", Approved => "approved", Rejected => "rejected",
});

/// The approval setting (`ORG_AUTH_ASSISTED_APPROVAL`).
#[derive(Clone, Copy, Default)]
pub(crate) struct Approvals {
    mode: ApprovalMode,
}

impl Approvals {
    pub fn new(mode: ApprovalMode) -> Self {
        Approvals { mode }
    }

    /// Where an account created by `p` starts: approved for a platform admin (its own
    /// approver) or when approval is automatic, else pending.
    pub(super) fn initial(&self, p: &Principal) -> ApprovalStatus {
        if p.is_platform_admin() || self.mode == ApprovalMode::Auto {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Pending
        }
    }
}

/// 403 `approval-pending` for an account still waiting, 409 for a rejected one: what needs an
/// approved account (sending its claim link, temporary access, claiming it).
pub(super) fn require_approved(status: ApprovalStatus) -> Result<(), Problem> {
    match status {
        ApprovalStatus::Approved => Ok(()),
        ApprovalStatus::Pending => Err(problems::APPROVAL_PENDING
            .with("a platform admin has not approved this assisted account yet")),
        ApprovalStatus::Rejected => Err(problems::ASSISTED_ACCOUNT_CLOSED
            .with("a platform admin rejected this assisted account")),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// The approver's notes, kept with the decision and audited.
    #[serde(default)]
    #[schema(inline)]
    pub notes: OptText<5000>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    // Why, kept with the decision, audited and published. (A doc comment here would wrap the
    // inline schema in an `allOf` with an object, which no string satisfies.)
    #[schema(inline)]
    pub reason: Text<3, 1000>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Decision {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    /// `approved` or `rejected`.
    pub approval_status: ApprovalStatus,
    /// The deciding platform admin's login and agent.
    pub decided_by: Uuid,
    pub decided_by_agent_id: Option<Uuid>,
    pub decided_at: Timestamp,
    /// The approver's notes (approvals).
    pub notes: Option<String>,
    /// Why (rejections).
    pub reason: Option<String>,
    /// The claim deadline: 30 days from the approval.
    pub expires_at: Timestamp,
    /// Whether the claim link is mailed to the client (once the decision has committed).
    pub claim_email_sent: bool,
    pub audit_logged: bool,
}

/// A pending account, locked for its decision.
#[derive(sqlx::FromRow)]
struct Pending {
    user_id: Uuid,
    organization_id: Uuid,
    email: String,
    client_name: String,
    company_name: String,
    created_by_agent_id: Uuid,
    expires_at: Timestamp,
    sealed: Option<String>,
}

/// The platform admin deciding and what it decides.
struct Decider<'a> {
    p: &'a Principal,
    status: ApprovalStatus,
    text: Option<&'a str>,
}

impl Decider<'_> {
    fn agent(&self) -> Option<Uuid> {
        self.p.agent.as_ref().map(|a| a.agent_id)
    }

    /// Locks the account of `user` (404 unknown), which must still wait (409 decided, or
    /// closed: it expired meanwhile), and records the decision. The account and the decision's
    /// time.
    async fn decide(&self, uow: &mut Uow, user: Uuid) -> Result<(Pending, Timestamp), Problem> {
        // The row lock serialises two platform admins deciding at once (the second sees the
        // first's decision: 409) and a decision against the expiry sweep, which waits for it
        // and re-reads the deadline an approval moves.
        let found: Option<(ApprovalStatus, AssistedStatus)> = sqlx::query_as(concat!(
            "SELECT a.approval_status, ",
            super::status_column!(),
            " AS account_status FROM assisted_accounts a WHERE a.user_id = $1 FOR UPDATE"
        ))
        .bind(user)
        .fetch_optional(&mut **uow)
        .await?;
        let (approval, status) = found.ok_or_else(|| Problem::not_found("assisted account"))?;
        if approval != ApprovalStatus::Pending {
            return Err(
                problems::APPROVAL_DECIDED.with(format!("the account is already {approval}"))
            );
        }
        if status != AssistedStatus::AssistedUnclaimed {
            return Err(problems::ASSISTED_ACCOUNT_CLOSED
                .with(format!("the account {status} before it was decided")));
        }
        let decided_at: Timestamp = sqlx::query_scalar(
            "UPDATE assisted_accounts SET approval_status = $2, approval_decided_by = $3, \
             approval_decided_by_agent_id = $4, approval_decided_at = now(), approval_notes = $5 \
             WHERE user_id = $1 RETURNING approval_decided_at",
        )
        .bind(user)
        .bind(self.status)
        .bind(self.p.user_id)
        .bind(self.agent())
        .bind(self.text)
        .fetch_one(&mut **uow)
        .await?;
        let pending: Pending = sqlx::query_as(
            "SELECT a.user_id, a.organization_id, u.email, a.client_name, a.company_name, \
             a.created_by_agent_id, a.expires_at, a.claim_token_sealed AS sealed \
             FROM assisted_accounts a JOIN users u ON u.id = a.user_id WHERE a.user_id = $1",
        )
        .bind(user)
        .fetch_one(&mut **uow)
        .await?;
        Ok((pending, decided_at))
    }

    /// The decision's audit entry.
    async fn audit(&self, uow: &mut Uow, a: &Pending, action: &'static str) -> Result<(), Problem> {
        let key = if self.status == ApprovalStatus::Rejected {
            "reason"
        } else {
            "notes"
        };
        let meta = json!({"agent_id": self.agent(), key: self.text,
                          "created_by_agent_id": a.created_by_agent_id});
        let entry = Entry::new(action)
            .org(Some(a.organization_id))
            .user(a.user_id);
        uow.audit(entry.by_actor().meta(meta)).await
    }

    fn answer(&self, a: &Pending, decided_at: Timestamp) -> Decision {
        let approved = self.status == ApprovalStatus::Approved;
        let text = self.text.map(str::to_string);
        Decision {
            user_id: a.user_id,
            organization_id: a.organization_id,
            email: a.email.clone(),
            approval_status: self.status,
            decided_by: self.p.user_id,
            decided_by_agent_id: self.agent(),
            decided_at,
            notes: if approved { text.clone() } else { None },
            reason: if approved { None } else { text },
            expires_at: a.expires_at,
            claim_email_sent: approved,
            audit_logged: true,
        }
    }
}

/// A platform admin's unit of work across the organisations agents serve.
async fn unit(s: &AppState, p: &Principal, origin: &Origin) -> Result<Uow, Problem> {
    Ok(s.db.begin(Scope::agent(None)).await?.by(p).from(origin))
}

/// Approve an assisted account waiting for it (platform admins): the claim link is mailed to
/// the client (after the commit), the account can be claimed within 30 days from now and
/// temporary access can be granted. Publishes `assisted_account_approved`; audited with the approver.
#[utoipa::path(post, path = "/api/v1/auth/assisted-accounts/{user_id}/approve", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = Approve,
    responses((status = 200, body = Decision), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
pub(super) async fn approve(
    State(s): State<AppState>,
    PlatformAdmin(p): PlatformAdmin,
    origin: Origin,
    Path(user): Path<Uuid>,
    Json(req): Json<Approve>,
) -> Result<Json<Decision>, Problem> {
    let d = Decider {
        p: &p,
        status: ApprovalStatus::Approved,
        text: req.notes.as_deref(),
    };
    let mut uow = unit(&s, &p, &origin).await?;
    let (mut a, decided_at) = d.decide(&mut uow, user).await?;
    // The client's 30 days start when the link reaches them.
    a.expires_at = Timestamp::now() + CLAIM_TTL;
    let url = claim_url(&mut uow, &s, &a).await?;
    let event = v1::AssistedAccountApproved {
        user_id: user.to_string(),
        organization_id: a.organization_id.to_string(),
        created_by_agent_id: a.created_by_agent_id.to_string(),
        approved_by: p.user_id.to_string(),
        approved_by_agent_id: d.agent().map(|x| x.to_string()).unwrap_or_default(),
        expires_at: a.expires_at.to_string(),
    };
    uow.emit(a.organization_id, user, &event).await?;
    d.audit(&mut uow, &a, "assisted_account_approved").await?;
    let expires = a.expires_at.to_string();
    let claim = mail::claim(
        &a.email,
        &a.client_name,
        &a.company_name,
        &url,
        &expires,
        None,
    );
    s.mail.after_commit(&mut uow, claim);
    uow.commit().await?;
    Ok(Json(d.answer(&a, decided_at)))
}

/// The account's claim link from its sealed token (the one its creator was shown), with the
/// deadline moved to `a.expires_at`; a new token when the sealed one no longer opens.
async fn claim_url(uow: &mut Uow, s: &AppState, a: &Pending) -> Result<String, Problem> {
    let (token, url) = match super::claim_link(s, a.user_id, a.sealed.as_deref()) {
        Some(link) => link,
        None => {
            let token = security::claim_token();
            let url = format!("{}/claim/{token}", s.app_url);
            (token, url)
        }
    };
    sqlx::query(
        "UPDATE assisted_accounts SET expires_at = $2, reminder_sent_at = NULL, \
         claim_token_hash = $3, claim_token_sealed = $4 WHERE user_id = $1",
    )
    .bind(a.user_id)
    .bind(a.expires_at)
    .bind(security::digest(&token))
    .bind(super::seal_claim(s, a.user_id, &token)?)
    .execute(&mut **uow)
    .await?;
    Ok(url)
}

/// Reject an assisted account waiting for approval (platform admins): the account is disabled
/// and its claim link stops working (it never had temporary access: none is issued before an
/// approval).
/// Publishes `assisted_account_rejected`; audited with the reason.
#[utoipa::path(post, path = "/api/v1/auth/assisted-accounts/{user_id}/reject", tag = "assisted accounts",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = Reject,
    responses((status = 200, body = Decision), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
pub(super) async fn reject(
    State(s): State<AppState>,
    PlatformAdmin(p): PlatformAdmin,
    origin: Origin,
    Path(user): Path<Uuid>,
    Json(req): Json<Reject>,
) -> Result<Json<Decision>, Problem> {
    let d = Decider {
        p: &p,
        status: ApprovalStatus::Rejected,
        text: Some(req.reason.as_str()),
    };
    let mut uow = unit(&s, &p, &origin).await?;
    let (a, decided_at) = d.decide(&mut uow, user).await?;
    sqlx::query(
        "UPDATE assisted_accounts SET claim_token_hash = 'rejected:' || user_id::text, \
         claim_token_sealed = NULL WHERE user_id = $1",
    )
    .bind(user)
    .execute(&mut *uow)
    .await?;
    sqlx::query("UPDATE users SET account_status = 'suspended', updated_at = now() WHERE id = $1")
        .bind(user)
        .execute(&mut *uow)
        .await?;
    let event = v1::AssistedAccountRejected {
        user_id: user.to_string(),
        organization_id: a.organization_id.to_string(),
        created_by_agent_id: a.created_by_agent_id.to_string(),
        rejected_by: p.user_id.to_string(),
        rejected_by_agent_id: d.agent().map(|x| x.to_string()).unwrap_or_default(),
        reason: req.reason.to_string(),
    };
    uow.emit(a.organization_id, user, &event).await?;
    d.audit(&mut uow, &a, "assisted_account_rejected").await?;
    uow.commit().await?;
    Ok(Json(d.answer(&a, decided_at)))
}
