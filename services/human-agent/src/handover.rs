//! Handoff proposals: a pending handoff to a receiving agent (with `handoff_initiated` and the
//! initiator's log row), re-proposed to the next agent when one is rejected, and passed on when
//! its receiver goes offline.
use kit::{Problem, Timestamp, contracts::events::v1, sqlx::PgConnection, uow::Work};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    activity::Entry,
    routing,
    rules::{self, HandoffStatus, HandoffType, Role, Urgency},
};

/// A handoff as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct Handoff {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub client_id: Uuid,
    pub from_agent_id: Uuid,
    pub from_role: Role,
    pub to_agent_id: Uuid,
    pub to_role: Role,
    pub handoff_type: HandoffType,
    pub handoff_reason: Option<String>,
    pub urgency: Urgency,
    pub context: Value,
    pub status: HandoffStatus,
}

/// The columns of [`Handoff`].
macro_rules! handoff_columns {
    () => {
        "id, organization_id, client_id, from_agent_id, from_role, to_agent_id, to_role, handoff_type, handoff_reason, \
         urgency, context, status"
    };
}

/// What a proposal carries over from the handoff it follows (or the initiator's request).
pub struct Terms<'a> {
    pub org: Uuid,
    pub client: Uuid,
    pub from: (Uuid, Role),
    pub kind: HandoffType,
    pub reason: Option<&'a str>,
    pub urgency: Urgency,
    pub context: &'a Value,
    /// The handoff this one follows (rejected, or its receiver gone offline).
    pub previous: Option<Uuid>,
}

impl<'a> Terms<'a> {
    /// The terms of `h`, for its next proposal.
    pub fn of(h: &'a Handoff) -> Self {
        Terms {
            org: h.organization_id,
            client: h.client_id,
            from: (h.from_agent_id, h.from_role),
            kind: h.handoff_type,
            reason: h.handoff_reason.as_deref(),
            urgency: h.urgency,
            context: &h.context,
            previous: Some(h.id),
        }
    }
}

/// Proposes the client to `to` in `role`; returns the new handoff and when it was initiated.
pub async fn propose(
    w: &mut impl Work,
    t: &Terms<'_>,
    to: Uuid,
    role: Role,
) -> Result<(Uuid, Timestamp), Problem> {
    let id = Uuid::now_v7();
    let now = Timestamp::now();
    sqlx::query(
        "INSERT INTO handoffs (id, organization_id, client_id, from_agent_id, from_role, to_agent_id, to_role, lifecycle_stage_from, \
         lifecycle_stage_to, handoff_type, handoff_reason, urgency, context, previous_handoff_id, acceptance_deadline, first_contact_deadline) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(id)
    .bind(t.org)
    .bind(t.client)
    .bind(t.from.0)
    .bind(t.from.1)
    .bind(to)
    .bind(role)
    .bind(t.from.1.stage())
    .bind(role.stage())
    .bind(t.kind)
    .bind(t.reason)
    .bind(t.urgency)
    .bind(t.context)
    .bind(t.previous)
    .bind(now + rules::ACCEPT_WITHIN)
    .bind(now + rules::FIRST_CONTACT_WITHIN)
    .execute(&mut **w)
    .await?;
    let event = v1::HandoffInitiated {
        handoff_id: id.to_string(),
        client_id: t.client.to_string(),
        from_agent_id: t.from.0.to_string(),
        to_agent_id: to.to_string(),
        from_role: t.from.1.to_string(),
        to_role: role.to_string(),
    };
    w.emit(t.org, t.client, &event).await?;
    // The entry records the unit's acting user: the initiating agent, or whoever's change
    // re-proposed the handoff (a rejection, an agent going offline).
    let details = json!({"handoff_id": id, "to_agent_id": to, "to_role": role});
    let entry = Entry::new(t.from.0, "handoff_initiated", details);
    w.audit(entry.org(t.org)).await?;
    Ok((id, now))
}

/// The handoff `id`, locked until the transaction ends: two decisions at once serialise and the
/// second sees the first (a handoff is decided once).
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Handoff>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        handoff_columns!(),
        " FROM handoffs WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// A decision on a pending handoff.
pub struct Decision<'a> {
    pub status: HandoffStatus,
    /// Acceptance notes, or the reason for a rejection.
    pub notes: Option<&'a str>,
    /// The agent deciding.
    pub by: Uuid,
    /// On acceptance: when the receiver expects the stage done.
    pub estimated_completion: Option<Timestamp>,
}

/// Records the decision on a pending handoff; returns when it was made.
pub async fn decide(
    conn: &mut PgConnection,
    id: Uuid,
    d: &Decision<'_>,
) -> Result<Timestamp, Problem> {
    Ok(sqlx::query_scalar(
        "UPDATE handoffs SET status = $2, decided_at = now(), decision_notes = $3, decided_by = $4, estimated_completion = $5 \
         WHERE id = $1 AND status = 'pending' RETURNING decided_at",
    )
    .bind(id)
    .bind(d.status)
    .bind(d.notes)
    .bind(d.by)
    .bind(d.estimated_completion)
    .fetch_one(conn)
    .await?)
}

/// The handoffs waiting for a client, oldest first.
pub async fn pending_for_client(
    conn: &mut PgConnection,
    client: Uuid,
) -> Result<Vec<Uuid>, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM handoffs WHERE client_id = $1 AND status = 'pending' ORDER BY initiated_at",
    )
    .bind(client)
    .fetch_all(conn)
    .await?)
}

/// The handoffs waiting for an agent's decision, oldest first (the record of its queue).
pub async fn queued_for(conn: &mut PgConnection, agent: Uuid) -> Result<Vec<Uuid>, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM handoffs WHERE to_agent_id = $1 AND status = 'pending' ORDER BY initiated_at, id",
    )
    .bind(agent)
    .fetch_all(conn)
    .await?)
}

/// Handoffs still waiting for `agent` (gone offline with auto-assign on) are rejected and each
/// proposed to the next available agent. Returns the agents they went to.
pub async fn redistribute(
    w: &mut impl Work,
    agent: Uuid,
    online: Option<&[Uuid]>,
) -> Result<Vec<Uuid>, Problem> {
    let waiting: Vec<Handoff> = sqlx::query_as(concat!(
        "UPDATE handoffs SET status = 'rejected', decided_at = now(), decision_notes = 'agent went offline' \
         WHERE to_agent_id = $1 AND status = 'pending' RETURNING ",
        handoff_columns!()
    ))
    .bind(agent)
    .fetch_all(&mut **w)
    .await?;
    let mut moved = Vec::new();
    for h in &waiting {
        let next = routing::receiver(w, h.to_role, None, &[h.from_agent_id, agent], online).await?;
        if let Some(n) = next {
            propose(w, &Terms::of(h), n, h.to_role).await?;
            moved.push(n);
        }
        let event = v1::HandoffRejected {
            handoff_id: h.id.to_string(),
            client_id: h.client_id.to_string(),
            rejected_by_agent_id: agent.to_string(),
            reason: "agent_offline".into(),
            reassignment_queued: next.is_some(),
        };
        w.emit(h.organization_id, h.client_id, &event).await?;
    }
    Ok(moved)
}
