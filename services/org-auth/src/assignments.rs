//! Which agent each client is assigned to, as human-agent announces it on `agent_events`
//! (org-auth never asks it): `client_assigned_to_agent` starts an assignment, and a handoff
//! ends the handing agent's one when it is accepted (`handoff_initiated` names the agent and
//! role it leaves, `handoff_accepted` the moment). A sales agent's assisted accounts are the
//! ones assigned to it (see `assisted`). Repeated events change nothing.
use kit::{
    Db,
    contracts::events::{Envelope, Event, v1},
    events::{Handler, HandlerError},
    store::{Scope, Tx},
    uow::Work,
};
use uuid::Uuid;

/// The consumer `org-auth.agent-assignments`.
pub struct Assignments(pub Db);

fn id(field: &str, raw: &str) -> Result<Uuid, HandlerError> {
    raw.parse()
        .map_err(|_| HandlerError::failed(format!("{field} is not a UUID")))
}

async fn assigned(
    w: &mut impl Work,
    org: Uuid,
    e: v1::ClientAssignedToAgent,
) -> Result<(), HandlerError> {
    let (assignment, client, agent) = (
        id("assignment_id", &e.assignment_id)?,
        id("client_id", &e.client_id)?,
        id("agent_id", &e.agent_id)?,
    );
    sqlx::query(
        "INSERT INTO agent_assignments (assignment_id, organization_id, client_id, agent_id, role_type) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (assignment_id) DO NOTHING",
    )
    .bind(assignment)
    .bind(org)
    .bind(client)
    .bind(agent)
    .bind(&e.role_type)
    .execute(&mut **w)
    .await?;
    Ok(())
}

async fn initiated(
    w: &mut impl Work,
    org: Uuid,
    e: v1::HandoffInitiated,
) -> Result<(), HandlerError> {
    let (handoff, client, from) = (
        id("handoff_id", &e.handoff_id)?,
        id("client_id", &e.client_id)?,
        id("from_agent_id", &e.from_agent_id)?,
    );
    sqlx::query(
        "INSERT INTO agent_handoffs (handoff_id, organization_id, client_id, from_agent_id, from_role) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (handoff_id) DO NOTHING",
    )
    .bind(handoff)
    .bind(org)
    .bind(client)
    .bind(from)
    .bind(&e.from_role)
    .execute(&mut **w)
    .await?;
    Ok(())
}

/// The handing agent's assignment in the handed role ends, as human-agent transfers it.
async fn accepted(w: &mut impl Work, e: v1::HandoffAccepted) -> Result<(), HandlerError> {
    let handoff = id("handoff_id", &e.handoff_id)?;
    sqlx::query(
        "UPDATE agent_assignments a SET ended_at = now() FROM agent_handoffs h \
         WHERE h.handoff_id = $1 AND a.client_id = h.client_id AND a.agent_id = h.from_agent_id \
           AND a.role_type = h.from_role AND a.ended_at IS NULL",
    )
    .bind(handoff)
    .execute(&mut **w)
    .await?;
    sqlx::query("DELETE FROM agent_handoffs WHERE handoff_id = $1")
        .bind(handoff)
        .execute(&mut **w)
        .await?;
    Ok(())
}

// tonic's re-export of `async_trait`, the macro `Handler` is declared with.
#[kit::tonic::async_trait]
impl Handler for Assignments {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let t = event.event_type.as_str();
        let ours = [
            v1::ClientAssignedToAgent::EVENT_TYPE,
            v1::HandoffInitiated::EVENT_TYPE,
            v1::HandoffAccepted::EVENT_TYPE,
        ];
        if !ours.contains(&t) {
            return Ok(()); // human-agent's other events are not ours
        }
        let org = id("organization_id", &event.organization_id)?;
        // An assignment is its client organisation's row: written in that tenant's scope.
        let mut w = self.0.within(tx, Scope::tenant(org)).await?;
        match t {
            _ if t == v1::ClientAssignedToAgent::EVENT_TYPE => {
                assigned(&mut w, org, event.decode()?).await
            }
            _ if t == v1::HandoffInitiated::EVENT_TYPE => {
                initiated(&mut w, org, event.decode()?).await
            }
            _ => accepted(&mut w, event.decode()?).await,
        }
    }
}
