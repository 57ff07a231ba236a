//! Handoffs (spec §0.5, endpoints 3–4): an agent hands a client to the next role with full
//! context; the receiving agent accepts (the assignment moves) or rejects (the next available
//! agent is proposed). A handoff is decided once.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Problem, Timestamp, Uow,
    auth::Principal,
    cache::Subject,
    contracts::events::v1,
    input::OptText,
    store::Scope,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    activity::Entry,
    handover::{self, Decision as Recorded, Handoff, Terms},
    notices,
    people::{self, AgentRef},
    problems,
    routing::{self, Request},
    rules::{
        self, Action, AssignmentKind, ClientRole, Context, HandoffContext, HandoffStatus,
        HandoffType, Rfc3339, Role, Urgency,
    },
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(initiate))
        .routes(routes!(decide))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiateHandoff {
    pub client_id: Uuid,
    pub organization_id: Uuid,
    #[schema(value_type = Role)]
    pub from_role: ClientRole,
    #[schema(value_type = Role)]
    pub to_role: ClientRole,
    /// `dual`: onboarding to support and success in parallel.
    pub handoff_type: HandoffType,
    /// At most 200 characters, e.g. `sales_completed`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub handoff_reason: OptText<200>,
    #[schema(value_type = HandoffContext)]
    pub context: Context,
    /// Chosen like an automatic assignment when absent.
    #[serde(default)]
    pub target_agent_id: Option<Uuid>,
    /// `normal` when absent.
    #[serde(default)]
    pub urgency: Option<Urgency>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffCreated {
    pub handoff_id: Uuid,
    pub client_id: Uuid,
    pub handoff_type: HandoffType,
    pub status: HandoffStatus,
    pub from_agent: AgentRef,
    pub to_agent: AgentRef,
    pub context_summary: ContextSummary,
    pub sla: HandoffSla,
    /// For a dual handoff: the parallel handoff to the other role.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parallel_handoff_ids: Vec<Uuid>,
    pub created_at: Timestamp,
}

/// What the handoff passes on, counted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextSummary {
    pub stage: Option<String>,
    pub next_actions_count: usize,
    pub notes_count: usize,
}

impl From<&Context> for ContextSummary {
    fn from(c: &Context) -> Self {
        ContextSummary {
            stage: c.stage().map(str::to_string),
            next_actions_count: c.next_actions_count(),
            notes_count: c.notes_count(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffSla {
    pub acceptance_deadline: Timestamp,
    pub first_contact_deadline: Timestamp,
}

/// A proposal made: the handoff, its receiver and role, when.
type Proposed = (Uuid, Uuid, Role, Timestamp);

/// Proposes the client to a receiver in each role the handoff goes to.
async fn propose_all(
    uow: &mut Uow,
    req: &InitiateHandoff,
    terms: &Terms<'_>,
    online: Option<&[Uuid]>,
) -> Result<Vec<Proposed>, Problem> {
    let (me, to) = (terms.from.0, req.to_role.0);
    let mut created = Vec::new();
    for role in rules::receiving_roles(req.handoff_type, to) {
        let wanted = req.target_agent_id.filter(|_| role == to);
        let agent = routing::receiver(uow, role, wanted, &[me], online)
            .await?
            .ok_or_else(|| {
                problems::NO_AGENT_AVAILABLE.with(format!("no {role} can take the client now"))
            })?;
        let (id, at) = handover::propose(uow, terms, agent, role).await?;
        created.push((id, agent, role, at));
    }
    Ok(created)
}

/// Hand a client to the next role (the agent holding the client in `from_role`).
#[utoipa::path(post, path = "/api/v1/agents/handoffs", tag = "handoffs", security(("bearer" = [])), request_body = InitiateHandoff,
    responses((status = 201, body = HandoffCreated), (status = 409, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
pub async fn initiate(
    State(s): State<AppState>,
    p: Principal,
    Json(req): Json<InitiateHandoff>,
) -> Result<(StatusCode, Json<HandoffCreated>), Problem> {
    let me = p.require_agent()?;
    let (org, client, from) = (req.organization_id, req.client_id, req.from_role.0);
    rules::check_handoff(from, req.to_role.0, me, req.target_agent_id)?;
    let key = me.to_string();
    s.limiter
        .enforce("handoffs", Subject::Key(&key), rules::HANDOFFS)
        .await?;
    let online = s.presence.online().await;
    // The agent acts in the client's organisation: that is the unit's context, not the token's.
    let mut uow = s.db.begin(Scope::agent(Some(org))).await?.by(&p);
    if !routing::serves(&mut uow, org, client, me, Some(from)).await? {
        return Err(problems::NOT_SERVING_CLIENT
            .with("your active assignment for this client in from_role not found"));
    }
    let context = req.context.to_json();
    let terms = Terms {
        org,
        client,
        from: (me, from),
        kind: req.handoff_type,
        reason: req.handoff_reason.as_deref(),
        urgency: req.urgency.unwrap_or_default(),
        context: &context,
        previous: None,
    };
    let created = propose_all(&mut uow, &req, &terms, online.as_deref()).await?;
    let from_agent = people::person(&mut uow, me).await?.named(from.as_str());
    let (id, to, role, at) = created[0];
    let to_agent = people::person(&mut uow, to).await?.proposed(role.as_str());
    let (presence, db) = (s.presence.clone(), s.db.clone());
    let receivers: Vec<Uuid> = created.iter().map(|c| c.1).collect();
    uow.after_commit(async move { presence.sync_queues(&db, &receivers).await });
    uow.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(HandoffCreated {
            handoff_id: id,
            client_id: client,
            handoff_type: req.handoff_type,
            status: HandoffStatus::Pending,
            from_agent,
            to_agent,
            context_summary: ContextSummary::from(&req.context),
            sla: HandoffSla {
                acceptance_deadline: at + rules::ACCEPT_WITHIN,
                first_contact_deadline: at + rules::FIRST_CONTACT_WITHIN,
            },
            parallel_handoff_ids: created.iter().skip(1).map(|c| c.0).collect(),
            created_at: at,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub action: Action,
    /// The deciding agent: your own id (a platform admin may name the agent it acts for).
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    /// At most 2 000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub acceptance_notes: OptText<2000>,
    /// On acceptance: when the receiving agent expects the stage done (RFC 3339); the new
    /// assignment's expected completion.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub estimated_completion: Option<Rfc3339>,
    /// Required to reject; at most 1 000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub rejection_reason: OptText<1000>,
    /// Whom to propose next on a rejection (else the next available agent).
    #[serde(default)]
    pub suggested_agent_id: Option<Uuid>,
}

/// What was decided on a handoff.
enum Verdict {
    Accept {
        notes: Option<String>,
        estimated_completion: Option<Timestamp>,
    },
    Reject {
        reason: String,
        suggested: Option<Uuid>,
    },
}

impl Decision {
    fn verdict(self) -> Result<Verdict, Problem> {
        match self.action {
            Action::Accept => Ok(Verdict::Accept {
                notes: self.acceptance_notes.into_option(),
                estimated_completion: self.estimated_completion.map(|t| t.0),
            }),
            Action::Reject => match self.rejection_reason.into_option() {
                Some(reason) => Ok(Verdict::Reject {
                    reason,
                    suggested: self.suggested_agent_id,
                }),
                None => Err(Problem::invalid(
                    "rejection_reason",
                    "is required to reject",
                )),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Decided {
    pub handoff_id: Uuid,
    pub status: HandoffStatus,
    pub decided_by: Uuid,
    pub decided_at: Timestamp,
    /// Accepted: by whom and when, the new assignment, and whether the client and the previous
    /// agent were mailed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<AgentRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_completion: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_notification_sent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_agent_notified: Option<bool>,
    /// Rejected: by whom, when and why; whether the next agent was proposed, and who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<AgentRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reassignment_queued: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_available_agent: Option<NextAgent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_handoff_id: Option<Uuid>,
}

/// The agent a rejected handoff is proposed to next.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextAgent {
    #[serde(flatten)]
    pub agent: AgentRef,
    /// Now when it is online, else the return it announced; `null` when unknown.
    pub estimated_availability: Option<Timestamp>,
}

impl Decided {
    fn new(h: &Handoff, status: HandoffStatus, by: Uuid, at: Timestamp) -> Self {
        Decided {
            handoff_id: h.id,
            status,
            decided_by: by,
            decided_at: at,
            accepted_by: None,
            accepted_at: None,
            estimated_completion: None,
            assignment_id: None,
            client_notification_sent: None,
            previous_agent_notified: None,
            rejected_by: None,
            rejected_at: None,
            rejection_reason: None,
            reassignment_queued: None,
            next_available_agent: None,
            next_handoff_id: None,
        }
    }
}

/// Accepting moves the client: the previous holder's assignment is transferred and the
/// receiver's starts (carrying the handoff's context and the receiver's estimate).
async fn accept(
    uow: &mut Uow,
    h: &Handoff,
    me: Uuid,
    (notes, estimated): (Option<&str>, Option<Timestamp>),
) -> Result<Decided, Problem> {
    let decision = Recorded {
        status: HandoffStatus::Accepted,
        notes,
        by: me,
        estimated_completion: estimated,
    };
    let at = handover::decide(uow, h.id, &decision).await?;
    let (org, client) = (h.organization_id, h.client_id);
    routing::transfer(uow, org, client, h.from_role).await?;
    let r = Request {
        context: Some(&h.context),
        expected_completion: estimated,
        priority: h.urgency,
        ..Request::named(org, client, h.to_role, AssignmentKind::Handoff)
    };
    let a = routing::assign_to(uow, h.to_agent_id, &r, false)
        .await?
        .ok_or_else(|| {
            problems::AGENT_AT_CAPACITY.with("the receiving agent has no free capacity")
        })?;
    let event = v1::HandoffAccepted {
        handoff_id: h.id.to_string(),
        client_id: client.to_string(),
        accepted_by_agent_id: h.to_agent_id.to_string(),
    };
    uow.emit(org, client, &event).await?;
    let details = json!({"handoff_id": h.id});
    uow.audit(Entry::new(h.to_agent_id, "handoff_accepted", details).org(org))
        .await?;
    let receiver = people::person(uow, h.to_agent_id).await?;
    Ok(Decided {
        accepted_by: Some(receiver.named(h.to_role.as_str())),
        accepted_at: Some(at),
        estimated_completion: Some(a.sla.expected_completion),
        assignment_id: Some(a.assignment_id),
        ..Decided::new(h, HandoffStatus::Accepted, me, at)
    })
}

/// Rejecting proposes the client to the suggested agent, or else the next available one.
async fn reject(
    uow: &mut Uow,
    h: &Handoff,
    me: Uuid,
    (reason, suggested): (&str, Option<Uuid>),
    online: Option<&[Uuid]>,
) -> Result<Decided, Problem> {
    let decision = Recorded {
        status: HandoffStatus::Rejected,
        notes: Some(reason),
        by: me,
        estimated_completion: None,
    };
    let at = handover::decide(uow, h.id, &decision).await?;
    let exclude = [h.from_agent_id, h.to_agent_id];
    let mut next = routing::receiver(uow, h.to_role, suggested, &exclude, online).await?;
    if next.is_none() && suggested.is_some() {
        next = routing::receiver(uow, h.to_role, None, &exclude, online).await?;
    }
    let role = h.to_role.as_str();
    let mut out = Decided {
        rejected_by: Some(people::person(uow, h.to_agent_id).await?.named(role)),
        rejected_at: Some(at),
        rejection_reason: Some(reason.to_string()),
        reassignment_queued: Some(next.is_some()),
        ..Decided::new(h, HandoffStatus::Rejected, me, at)
    };
    if let Some(n) = next {
        let (id, _) = handover::propose(uow, &Terms::of(h), n, h.to_role).await?;
        out.next_handoff_id = Some(id);
        let person = people::person(uow, n).await?;
        out.next_available_agent = Some(NextAgent {
            agent: person.proposed(role),
            estimated_availability: person.estimated_availability(at),
        });
    }
    let event = v1::HandoffRejected {
        handoff_id: h.id.to_string(),
        client_id: h.client_id.to_string(),
        rejected_by_agent_id: h.to_agent_id.to_string(),
        reason: reason.to_string(),
        reassignment_queued: next.is_some(),
    };
    uow.emit(h.organization_id, h.client_id, &event).await?;
    let details = json!({"handoff_id": h.id, "reason": reason});
    let entry = Entry::new(h.to_agent_id, "handoff_rejected", details);
    uow.audit(entry.org(h.organization_id)).await?;
    Ok(out)
}

/// The pending handoff `id` the caller may decide, locked: its proposed agent's, or any for a
/// platform admin. Another agent's handoff answers exactly as one that does not exist, so an
/// id tells nothing to whom it is not addressed.
async fn decidable(uow: &mut Uow, p: &Principal, me: Uuid, id: Uuid) -> Result<Handoff, Problem> {
    let h = handover::lock(uow, id)
        .await?
        .filter(|h| h.to_agent_id == me || p.is_platform_admin())
        .ok_or_else(|| Problem::not_found("handoff"))?;
    if h.status != HandoffStatus::Pending {
        let detail = format!("the handoff was already {}", h.status);
        return Err(problems::HANDOFF_ALREADY_DECIDED.with(detail));
    }
    Ok(h)
}

/// Accept or reject a handoff (its proposed agent, or a platform admin). Decided once: a second
/// decision is a 409. An accepted handoff is mailed to the client and to the previous agent.
#[utoipa::path(post, path = "/api/v1/agents/handoffs/{handoff_id}/accept", tag = "handoffs", security(("bearer" = [])),
    params(("handoff_id" = Uuid, Path)), request_body = Decision,
    responses((status = 200, body = Decided), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
pub async fn decide(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Decision>,
) -> Result<Json<Decided>, Problem> {
    let me = p.require_agent()?;
    rules::acting_agent(&p, req.agent_id, "agent_id")?;
    let verdict = req.verdict()?;
    let online = s.presence.online().await;
    let mut uow = s.db.begin_for(&p).await?;
    let h = decidable(&mut uow, &p, me, id).await?;
    let mut out = match &verdict {
        Verdict::Accept {
            notes,
            estimated_completion,
        } => accept(&mut uow, &h, me, (notes.as_deref(), *estimated_completion)).await?,
        Verdict::Reject { reason, suggested } => {
            reject(&mut uow, &h, me, (reason, *suggested), online.as_deref()).await?
        }
    };
    let previous = people::person(&mut uow, h.from_agent_id).await?;
    let receiver = people::person(&mut uow, h.to_agent_id).await?;
    let mut touched = vec![h.to_agent_id];
    touched.extend(out.next_available_agent.as_ref().map(|a| a.agent.agent_id));
    let (presence, db) = (s.presence.clone(), s.db.clone());
    uow.after_commit(async move { presence.sync_queues(&db, &touched).await });
    uow.commit().await?;
    if out.status == HandoffStatus::Accepted {
        // Mailed once the move is committed; the answer says what reached whom.
        let (client, previous) =
            notices::handoff_accepted(&s, h.client_id, &previous, &receiver).await;
        out.client_notification_sent = Some(client);
        out.previous_agent_notified = Some(previous);
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::testing::{body, body_refusal};

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut b = json!({"client_id": Uuid::nil(), "organization_id": Uuid::nil(), "from_role": "sales_agent",
                           "to_role": "onboarding_specialist", "handoff_type": "warm", "context": {}});
        b[field] = value;
        b
    }

    #[tokio::test]
    async fn a_bad_handoff_or_decision_is_refused_naming_the_field_as_before() {
        let refused = |f: &str, v| body_refusal::<InitiateHandoff>(with(f, v));
        assert_eq!(
            refused("to_role", json!("wizard")).await,
            "to_role: unknown or non-client-facing role"
        );
        assert_eq!(
            refused("handoff_type", json!("cold")).await,
            "handoff_type: must be warm, standard or dual"
        );
        assert_eq!(
            refused("urgency", json!("asap")).await,
            "urgency: must be low, normal, high or urgent"
        );
        let notes = json!({"important_notes": "x".repeat(5001)});
        assert_eq!(refused("context", notes).await, "context: too large");
        assert_eq!(
            body_refusal::<Decision>(json!({"action": "maybe"})).await,
            "action: must be accept or reject"
        );
        let reject: Decision = body(json!({"action": "reject", "rejection_reason": "  "})).await;
        let refusal = reject.verdict().err().expect("a reason is needed");
        assert_eq!(refusal.detail(), "rejection_reason: is required to reject");
    }
}
