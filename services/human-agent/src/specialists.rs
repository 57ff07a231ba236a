//! Specialist invitations (spec §0.5, endpoint 5): an agent invites a specialist for an upsell,
//! a cross-sell, a technical consultation or an iteration; the specialist accepts (and works
//! beside the client's agent) or declines, and completes with an outcome. At most 20
//! invitations a day per inviting agent and 5 active ones per client.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Problem, Timestamp, Uow,
    auth::Principal,
    cache::Subject,
    contracts::events::v1,
    sqlx::PgConnection,
    store::Scope,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    activity::Entry,
    people::AgentRef,
    problems,
    routing::{self, Request},
    rules::{
        self, Action, Amount, AssignmentKind, Background, CollaborationMode, InvitationContext,
        InvitationReason, InvitationStatus, InvitedRole, OpportunityUrgency, Outcome, Role,
    },
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite))
        .routes(routes!(respond))
        .routes(routes!(complete))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub client_id: Uuid,
    /// The client's organisation; when absent, the one the inviting agent serves the client in.
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    /// The inviting agent: your own id (a platform admin may name the agent it acts for).
    #[serde(default)]
    pub invited_by_agent_id: Option<Uuid>,
    /// A client-facing role (`sales_specialist`) or a specialist type (`sales_specialist_voice`,
    /// `sales_specialist_enterprise`, `sales_specialist_vertical`, `technical_specialist`).
    #[schema(value_type = String)]
    pub invited_role: InvitedRole,
    pub invitation_reason: InvitationReason,
    /// The opportunity, as the spec sends it; its fields may also be given at the top level.
    #[serde(default)]
    pub context: Option<InvitationContext>,
    /// At most 100 bytes.
    #[serde(default)]
    pub opportunity_type: Option<String>,
    /// A non-negative amount.
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub estimated_value: Option<Amount>,
    /// At most 5 000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub background: Option<Background>,
    /// Chosen among available specialists when absent (skills, then workload).
    #[serde(default)]
    pub target_agent_id: Option<Uuid>,
    /// `join_existing` (default): beside the client's agent; `consult_only`: advising the
    /// inviting agent, without an assignment.
    #[serde(default)]
    pub collaboration_mode: CollaborationMode,
}

/// The opportunity an invitation is about: the top-level fields, else the context's.
struct Offer<'a> {
    opportunity_type: Option<&'a str>,
    estimated_value: Option<Amount>,
    urgency: Option<OpportunityUrgency>,
    background: Option<&'a str>,
}

impl Invite {
    fn offer(&self) -> Offer<'_> {
        let c = self.context.as_ref();
        Offer {
            opportunity_type: self
                .opportunity_type
                .as_deref()
                .or_else(|| c.and_then(|c| c.opportunity_type.as_deref())),
            estimated_value: self
                .estimated_value
                .or_else(|| c.and_then(|c| c.estimated_value)),
            urgency: c.and_then(|c| c.urgency),
            background: self
                .background
                .as_ref()
                .or_else(|| c.and_then(|c| c.background.as_ref()))
                .map(Background::as_str),
        }
    }

    /// The rules beyond each field's own: someone else is invited, and a long opportunity type
    /// is refused (as `background`, as it always has been).
    fn check(&self, inviter: Uuid) -> Result<(), Problem> {
        if self.target_agent_id == Some(inviter) {
            return Err(Problem::invalid("target_agent_id", "invite someone else"));
        }
        let o = self.offer().opportunity_type;
        if o.is_some_and(|o| o.len() > 100 || o.contains('\0')) {
            return Err(Problem::invalid("background", "too long"));
        }
        Ok(())
    }
}

/// An invitation as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub invitation_id: Uuid,
    pub client_id: Uuid,
    pub organization_id: Uuid,
    /// The inviting agent, in the role it serves the client in.
    pub invited_by: AgentRef,
    /// As invited: a role or a specialist type.
    pub invited_role: String,
    /// The specialist, with where it stands (`pending_acceptance`, `accepted`, …).
    pub invited_agent: AgentRef,
    pub invited_agent_id: Uuid,
    pub invitation_reason: InvitationReason,
    pub collaboration_mode: CollaborationMode,
    pub estimated_value: Option<f64>,
    pub status: InvitationStatus,
    pub invited_at: Timestamp,
    pub created_at: Timestamp,
}

/// An invitation as stored, with its agents' names.
#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: Uuid,
    client_id: Uuid,
    organization_id: Uuid,
    invited_by_agent_id: Uuid,
    inviter_name: String,
    invited_by_role: String,
    invited_role: String,
    specialist_agent_id: Uuid,
    specialist_name: String,
    invitation_reason: InvitationReason,
    collaboration_mode: CollaborationMode,
    estimated_value: Option<f64>,
    status: InvitationStatus,
    invited_at: Timestamp,
}

impl Invitation {
    /// The invitation `id` as answered.
    async fn load(conn: &mut PgConnection, id: Uuid) -> Result<Self, Problem> {
        let r: InvitationRow = sqlx::query_as(
            "SELECT i.id, i.client_id, i.organization_id, i.invited_by_agent_id, coalesce(b.full_name, '') AS inviter_name, \
             coalesce(i.invited_by_role, '') AS invited_by_role, i.invited_role, i.specialist_agent_id, \
             coalesce(sp.full_name, '') AS specialist_name, i.invitation_reason, i.collaboration_mode, \
             i.estimated_value::float8 AS estimated_value, i.status, i.invited_at FROM specialist_invitations i \
             LEFT JOIN agent_profiles b ON b.agent_id = i.invited_by_agent_id \
             LEFT JOIN agent_profiles sp ON sp.agent_id = i.specialist_agent_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_one(conn)
        .await?;
        let standing = match r.status {
            InvitationStatus::Pending => "pending_acceptance",
            other => other.as_str(),
        };
        Ok(Invitation {
            invitation_id: r.id,
            client_id: r.client_id,
            organization_id: r.organization_id,
            invited_by: AgentRef {
                agent_id: r.invited_by_agent_id,
                full_name: r.inviter_name,
                role_type: r.invited_by_role,
                status: None,
            },
            invited_agent: AgentRef {
                agent_id: r.specialist_agent_id,
                full_name: r.specialist_name,
                role_type: r.invited_role.clone(),
                status: Some(standing),
            },
            invited_role: r.invited_role,
            invited_agent_id: r.specialist_agent_id,
            invitation_reason: r.invitation_reason,
            collaboration_mode: r.collaboration_mode,
            estimated_value: r.estimated_value,
            status: r.status,
            invited_at: r.invited_at,
            created_at: r.invited_at,
        })
    }
}

/// The client's active invitations, counted under a lock on the client's invitations: two
/// invitations at once cannot make six.
async fn lock_and_count(conn: &mut PgConnection, client: Uuid) -> Result<i64, Problem> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(client)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM specialist_invitations WHERE client_id = $1 AND status IN ('pending', 'accepted')",
    )
    .bind(client)
    .fetch_one(conn)
    .await?)
}

/// Who invites whom, for whom.
struct Parties {
    org: Uuid,
    inviter: (Uuid, Role),
    specialist: Uuid,
}

async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    who: &Parties,
    req: &Invite,
) -> Result<(), Problem> {
    let offer = req.offer();
    sqlx::query(
        "INSERT INTO specialist_invitations (id, organization_id, client_id, invited_by_agent_id, invited_by_role, specialist_agent_id, \
         specialist_role, invited_role, invitation_reason, opportunity_type, estimated_value, urgency, background, collaboration_mode) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11::numeric,$12,$13,$14)",
    )
    .bind(id)
    .bind(who.org)
    .bind(req.client_id)
    .bind(who.inviter.0)
    .bind(who.inviter.1)
    .bind(who.specialist)
    .bind(req.invited_role.role().0)
    .bind(req.invited_role.as_str())
    .bind(req.invitation_reason)
    .bind(offer.opportunity_type)
    .bind(offer.estimated_value.map(Amount::to_numeric))
    .bind(offer.urgency)
    .bind(offer.background)
    .bind(req.collaboration_mode)
    .execute(conn)
    .await?;
    Ok(())
}

/// The organisation and role the inviter serves the client in (404 when it serves none), with
/// the client's invitation limit checked under its lock.
async fn serving(uow: &mut Uow, req: &Invite, inviter: Uuid) -> Result<(Uuid, Role), Problem> {
    let (org, role) = routing::serving(uow, req.organization_id, req.client_id, inviter)
        .await?
        .ok_or_else(|| {
            problems::NOT_SERVING_CLIENT.with("your active assignment for this client not found")
        })?;
    // The unit acts in the client's organisation, now that it is known.
    uow.set_scope(Scope::agent(Some(org))).await?;
    if lock_and_count(uow, req.client_id).await? >= rules::MAX_ACTIVE_INVITATIONS {
        return Err(problems::SPECIALIST_LIMIT
            .with("this client already has 5 active specialist invitations"));
    }
    Ok((org, role))
}

/// Invite a specialist to a client you serve.
#[utoipa::path(post, path = "/api/v1/agents/invitations", tag = "specialists", security(("bearer" = [])), request_body = Invite,
    responses((status = 201, body = Invitation), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody), (status = 429, body = kit::ProblemBody)))]
pub async fn invite(
    State(s): State<AppState>,
    p: Principal,
    Json(req): Json<Invite>,
) -> Result<(StatusCode, Json<Invitation>), Problem> {
    let inviter = rules::acting_agent(&p, req.invited_by_agent_id, "invited_by_agent_id")?;
    req.check(inviter)?;
    let client = req.client_id;
    let online = s.presence.online().await;
    // The agent acts in the client's organisation: that is the unit's context, not the token's.
    let mut uow = s.db.begin(Scope::agent(req.organization_id)).await?.by(&p);
    let (org, inviter_role) = serving(&mut uow, &req, inviter).await?;
    let key = inviter.to_string();
    s.limiter
        .enforce(
            "specialist-invitations",
            Subject::Key(&key),
            rules::INVITATIONS,
        )
        .await?;
    let (role, specialty) = req.invited_role.role();
    let skills: Vec<String> = specialty.into_iter().map(str::to_string).collect();
    let wanted = routing::SpecialistWanted {
        role,
        skills: &skills,
        wanted: req.target_agent_id,
        inviter,
        online: online.as_deref(),
    };
    let specialist = routing::specialist(&mut uow, &wanted)
        .await?
        .ok_or_else(|| {
            let asked = req.invited_role.as_str();
            problems::NO_AGENT_AVAILABLE.with(format!("no {asked} can be invited now"))
        })?;
    let id = Uuid::now_v7();
    let who = Parties {
        org,
        inviter: (inviter, inviter_role),
        specialist,
    };
    insert(&mut uow, id, &who, &req).await?;
    let event = v1::SpecialistInvited {
        invitation_id: id.to_string(),
        client_id: client.to_string(),
        invited_by_agent_id: inviter.to_string(),
        invited_agent_id: specialist.to_string(),
        reason: req.invitation_reason.to_string(),
    };
    uow.emit(org, client, &event).await?;
    let details = json!({"invitation_id": id, "specialist": specialist, "collaboration_mode": req.collaboration_mode});
    uow.audit(Entry::new(inviter, "specialist_invited", details).org(org))
        .await?;
    let answer = Invitation::load(&mut uow, id).await?;
    uow.commit().await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// An invitation as stored.
#[derive(sqlx::FromRow)]
struct Invited {
    organization_id: Uuid,
    client_id: Uuid,
    specialist_agent_id: Uuid,
    specialist_role: Role,
    status: InvitationStatus,
    collaboration_mode: CollaborationMode,
    assignment_id: Option<Uuid>,
}

impl Invited {
    /// The invitation `id` addressed to `me`, locked until the transaction ends so that two
    /// answers at once serialise and the second sees the first (decided once). Another
    /// specialist's invitation answers 404 exactly like one that does not exist: an id tells
    /// nothing to whom it is not addressed.
    async fn lock(conn: &mut PgConnection, id: Uuid, me: Uuid) -> Result<Self, Problem> {
        sqlx::query_as(
            "SELECT organization_id, client_id, specialist_agent_id, specialist_role, status, collaboration_mode, assignment_id \
             FROM specialist_invitations WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(conn)
        .await?
        .filter(|i: &Invited| i.specialist_agent_id == me)
        .ok_or_else(|| Problem::not_found("invitation"))
    }

    /// The specialist joins the client beside its agent (a consultation takes no assignment);
    /// returns the assignment.
    async fn join(&self, uow: &mut Uow, me: Uuid) -> Result<Option<Uuid>, Problem> {
        if self.collaboration_mode == CollaborationMode::ConsultOnly {
            return Ok(None);
        }
        let (org, client) = (self.organization_id, self.client_id);
        let r = Request::named(
            org,
            client,
            self.specialist_role,
            AssignmentKind::Specialist,
        );
        let a = routing::assign_to(uow, me, &r, false)
            .await?
            .ok_or_else(|| {
                problems::AGENT_AT_CAPACITY.with("no free capacity to join this client")
            })?;
        Ok(Some(a.assignment_id))
    }

    async fn decide(
        conn: &mut PgConnection,
        id: Uuid,
        status: InvitationStatus,
        assignment: Option<Uuid>,
    ) -> Result<(), Problem> {
        sqlx::query(
            "UPDATE specialist_invitations SET status = $2, decided_at = now(), assignment_id = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(assignment)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Respond {
    pub action: Action,
}

/// The invited specialist accepts (joining the client) or declines. Decided once.
#[utoipa::path(post, path = "/api/v1/agents/invitations/{invitation_id}/accept", tag = "specialists", security(("bearer" = [])),
    params(("invitation_id" = Uuid, Path)), request_body = Respond,
    responses((status = 200, body = Invitation), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
pub async fn respond(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Respond>,
) -> Result<Json<Invitation>, Problem> {
    let me = p.require_agent()?;
    let mut uow = s.db.begin_for(&p).await?;
    let inv = Invited::lock(&mut uow, id, me).await?;
    if inv.status != InvitationStatus::Pending {
        let detail = format!("the invitation was already {}", inv.status);
        return Err(problems::INVITATION_ALREADY_DECIDED.with(detail));
    }
    let (status, assignment, action) = match req.action {
        Action::Accept => {
            let assignment = inv.join(&mut uow, me).await?;
            let accepted = "specialist_invitation_accepted";
            (InvitationStatus::Accepted, assignment, accepted)
        }
        Action::Reject => {
            let rejected = "specialist_invitation_rejected";
            (InvitationStatus::Rejected, None, rejected)
        }
    };
    Invited::decide(&mut uow, id, status, assignment).await?;
    let details = json!({"invitation_id": id});
    uow.audit(Entry::new(me, action, details).org(inv.organization_id))
        .await?;
    let answer = Invitation::load(&mut uow, id).await?;
    uow.commit().await?;
    Ok(Json(answer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    /// An object of at most 10 kB, e.g. `{"deal_closed": true, "revenue": 50000, "next_steps": "..."}`.
    #[schema(value_type = Object)]
    pub outcome: Outcome,
}

/// The specialist completes its work with an outcome and leaves the client.
#[utoipa::path(post, path = "/api/v1/agents/invitations/{invitation_id}/complete", tag = "specialists", security(("bearer" = [])),
    params(("invitation_id" = Uuid, Path)), request_body = Complete,
    responses((status = 200, body = Invitation), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
pub async fn complete(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Complete>,
) -> Result<Json<Invitation>, Problem> {
    let me = p.require_agent()?;
    let mut uow = s.db.begin_for(&p).await?;
    let inv = Invited::lock(&mut uow, id, me).await?;
    if inv.status != InvitationStatus::Accepted {
        let detail = format!("the invitation is {}, not accepted", inv.status);
        return Err(problems::INVITATION_NOT_ACCEPTED.with(detail));
    }
    let outcome: &Value = req.outcome.as_value();
    sqlx::query(
        "UPDATE specialist_invitations SET status = 'completed', completed_at = now(), outcome = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(outcome)
    .execute(&mut *uow)
    .await?;
    routing::complete(&mut uow, inv.assignment_id).await?;
    let details = json!({"invitation_id": id, "outcome": outcome});
    let entry = Entry::new(me, "specialist_invitation_completed", details);
    uow.audit(entry.org(inv.organization_id)).await?;
    let answer = Invitation::load(&mut uow, id).await?;
    uow.commit().await?;
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::testing::{body, body_refusal};

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut b = json!({"client_id": Uuid::nil(), "organization_id": Uuid::nil(),
                           "invited_role": "sales_specialist", "invitation_reason": "upsell"});
        b[field] = value;
        b
    }

    #[tokio::test]
    async fn a_bad_invitation_or_outcome_is_refused_naming_the_field_as_before() {
        let refused = |f: &str, v| body_refusal::<Invite>(with(f, v));
        assert_eq!(
            refused("invitation_reason", json!("because")).await,
            "invitation_reason: must be upsell, cross_sell, technical_consultation, iteration, upsell_opportunity or cross_sell_opportunity"
        );
        assert_eq!(
            refused("estimated_value", json!(-5)).await,
            "estimated_value: must be a non-negative amount"
        );
        assert_eq!(
            refused("background", json!("x".repeat(5001))).await,
            "background: too long"
        );
        let me = Uuid::now_v7();
        let long: Invite = body(with("opportunity_type", json!("x".repeat(101)))).await;
        assert_eq!(
            long.check(me).expect_err("long").detail(),
            "background: too long"
        );
        let own: Invite = body(with("target_agent_id", json!(me))).await;
        assert_eq!(
            own.check(me).expect_err("own").detail(),
            "target_agent_id: invite someone else"
        );
        assert_eq!(
            body_refusal::<Complete>(json!({"outcome": ["won"]})).await,
            "outcome: must be an object (at most 10 kB)"
        );
    }
}
