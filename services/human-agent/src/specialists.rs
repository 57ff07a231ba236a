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
    problems,
    routing::{self, Request},
    rules::{
        self, Action, Amount, AssignmentKind, Background, ClientRole, InvitationReason,
        InvitationStatus, Outcome, Role,
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
    pub organization_id: Uuid,
    /// A client-facing role, e.g. `sales_specialist`.
    #[schema(value_type = Role)]
    pub invited_role: ClientRole,
    pub invitation_reason: InvitationReason,
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
    /// Chosen among available specialists when absent.
    #[serde(default)]
    pub target_agent_id: Option<Uuid>,
}

impl Invite {
    /// The rules beyond each field's own: someone else is invited, and a long opportunity type
    /// is refused (as `background`, as it always has been).
    fn check(&self, me: Uuid) -> Result<(), Problem> {
        if self.target_agent_id == Some(me) {
            return Err(Problem::invalid("target_agent_id", "invite someone else"));
        }
        if self
            .opportunity_type
            .as_deref()
            .is_some_and(|o| o.len() > 100)
        {
            return Err(Problem::invalid("background", "too long"));
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub invitation_id: Uuid,
    pub client_id: Uuid,
    pub invited_role: Role,
    pub invited_agent_id: Uuid,
    pub status: InvitationStatus,
    pub invited_at: Timestamp,
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

async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    me: Uuid,
    specialist: Uuid,
    req: &Invite,
) -> Result<Timestamp, Problem> {
    Ok(sqlx::query_scalar(
        "INSERT INTO specialist_invitations (id, organization_id, client_id, invited_by_agent_id, specialist_agent_id, specialist_role, \
         invitation_reason, opportunity_type, estimated_value, background) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::numeric,$10) RETURNING invited_at",
    )
    .bind(id)
    .bind(req.organization_id)
    .bind(req.client_id)
    .bind(me)
    .bind(specialist)
    .bind(req.invited_role.0)
    .bind(req.invitation_reason)
    .bind(&req.opportunity_type)
    .bind(req.estimated_value.map(Amount::to_numeric))
    .bind(req.background.as_ref().map(Background::as_str))
    .fetch_one(conn)
    .await?)
}

/// Invite a specialist to a client you serve.
#[utoipa::path(post, path = "/api/v1/agents/invitations", tag = "specialists", security(("bearer" = [])), request_body = Invite,
    responses((status = 201, body = Invitation), (status = 409, body = kit::ProblemBody), (status = 429, body = kit::ProblemBody)))]
pub async fn invite(
    State(s): State<AppState>,
    p: Principal,
    Json(req): Json<Invite>,
) -> Result<(StatusCode, Json<Invitation>), Problem> {
    let me = p.require_agent()?;
    req.check(me)?;
    let (org, client, role) = (req.organization_id, req.client_id, req.invited_role.0);
    // The agent acts in the client's organisation: that is the unit's context, not the token's.
    let mut uow = s.db.begin(Scope::agent(Some(org))).await?.by(&p);
    if !routing::serves(&mut uow, org, client, me, None).await? {
        return Err(
            problems::NOT_SERVING_CLIENT.with("your active assignment for this client not found")
        );
    }
    if lock_and_count(&mut uow, client).await? >= rules::MAX_ACTIVE_INVITATIONS {
        return Err(problems::SPECIALIST_LIMIT
            .with("this client already has 5 active specialist invitations"));
    }
    let key = me.to_string();
    s.limiter
        .enforce(
            "specialist-invitations",
            Subject::Key(&key),
            rules::INVITATIONS,
        )
        .await?;
    let specialist = routing::specialist(&mut uow, role, req.target_agent_id, me)
        .await?
        .ok_or_else(|| {
            problems::NO_AGENT_AVAILABLE.with(format!("no {role} can be invited now"))
        })?;
    let id = Uuid::now_v7();
    let invited_at = insert(&mut uow, id, me, specialist, &req).await?;
    let event = v1::SpecialistInvited {
        invitation_id: id.to_string(),
        client_id: client.to_string(),
        invited_by_agent_id: me.to_string(),
        invited_agent_id: specialist.to_string(),
        reason: req.invitation_reason.to_string(),
    };
    uow.emit(org, client, &event).await?;
    let details = json!({"invitation_id": id, "specialist": specialist});
    uow.audit(Entry::new(me, "specialist_invited", details).org(org))
        .await?;
    uow.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Invitation {
            invitation_id: id,
            client_id: client,
            invited_role: role,
            invited_agent_id: specialist,
            status: InvitationStatus::Pending,
            invited_at,
        }),
    ))
}

/// An invitation as stored.
#[derive(sqlx::FromRow)]
struct Invited {
    organization_id: Uuid,
    client_id: Uuid,
    specialist_agent_id: Uuid,
    specialist_role: Role,
    status: InvitationStatus,
    invited_at: Timestamp,
    assignment_id: Option<Uuid>,
}

impl Invited {
    /// The invitation `id`, locked until the transaction ends so that two answers at once
    /// serialise and the second sees the first (decided once); 404 when there is none.
    async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Self, Problem> {
        sqlx::query_as(
            "SELECT organization_id, client_id, specialist_agent_id, specialist_role, status, invited_at, assignment_id \
             FROM specialist_invitations WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Problem::not_found("invitation"))
    }

    /// The specialist joins the client beside its agent; returns the assignment.
    async fn join(&self, uow: &mut Uow, me: Uuid) -> Result<Uuid, Problem> {
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
        Ok(a.assignment_id)
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

    fn answer(&self, id: Uuid, status: InvitationStatus) -> Invitation {
        Invitation {
            invitation_id: id,
            client_id: self.client_id,
            invited_role: self.specialist_role,
            invited_agent_id: self.specialist_agent_id,
            status,
            invited_at: self.invited_at,
        }
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
    responses((status = 200, body = Invitation), (status = 409, body = kit::ProblemBody)))]
pub async fn respond(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Respond>,
) -> Result<Json<Invitation>, Problem> {
    let me = p.require_agent()?;
    let mut uow = s.db.begin_for(&p).await?;
    let inv = Invited::lock(&mut uow, id).await?;
    if inv.specialist_agent_id != me {
        return Err(Problem::forbidden("only the invited specialist responds"));
    }
    if inv.status != InvitationStatus::Pending {
        let detail = format!("the invitation was already {}", inv.status);
        return Err(problems::INVITATION_ALREADY_DECIDED.with(detail));
    }
    let (status, assignment, action) = match req.action {
        Action::Accept => {
            let assignment = inv.join(&mut uow, me).await?;
            let accepted = "specialist_invitation_accepted";
            (InvitationStatus::Accepted, Some(assignment), accepted)
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
    uow.commit().await?;
    Ok(Json(inv.answer(id, status)))
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
    responses((status = 200, body = Invitation), (status = 409, body = kit::ProblemBody)))]
pub async fn complete(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Complete>,
) -> Result<Json<Invitation>, Problem> {
    let me = p.require_agent()?;
    let mut uow = s.db.begin_for(&p).await?;
    let inv = Invited::lock(&mut uow, id).await?;
    if inv.specialist_agent_id != me {
        return Err(Problem::forbidden(
            "only the specialist completes its invitation",
        ));
    }
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
    uow.commit().await?;
    Ok(Json(inv.answer(id, InvitationStatus::Completed)))
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
            "invitation_reason: must be upsell, cross_sell, technical_consultation or iteration"
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
