//! Handoffs (spec §0.5, endpoints 3–4): an agent hands a client to the next role with full
//! context; the receiving agent accepts (the assignment moves) or rejects (the next available
//! agent is proposed). A handoff is decided once.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Problem,
    auth::Principal,
    cache::{Limit, Subject},
    contracts::events::v1,
    store::{self, Scope, Tx, outbox},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState, SOURCE, activity,
    agents::ROLES,
    assign::{self, stage_of},
    now_rfc3339, rfc3339,
};

const ACCEPT_WITHIN: Duration = Duration::hours(4);
const FIRST_CONTACT_WITHIN: Duration = Duration::hours(20);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffContext {
    #[serde(default)]
    pub current_stage: Option<String>,
    #[serde(default)]
    pub next_actions: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub client_preferences: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub completed_items: Vec<Value>,
    #[serde(default)]
    pub important_notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiateHandoff {
    pub client_id: Uuid,
    pub organization_id: Uuid,
    pub from_role: String,
    pub to_role: String,
    /// `warm`, `standard`, or `dual` (onboarding to support and success in parallel).
    pub handoff_type: String,
    #[serde(default)]
    pub handoff_reason: Option<String>,
    pub context: HandoffContext,
    /// Chosen like an automatic assignment when absent.
    #[serde(default)]
    pub target_agent_id: Option<Uuid>,
    #[serde(default)]
    pub urgency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRef {
    pub agent_id: Uuid,
    pub full_name: String,
    pub role_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffCreated {
    pub handoff_id: Uuid,
    pub client_id: Uuid,
    pub handoff_type: String,
    pub status: &'static str,
    pub from_agent: AgentRef,
    pub to_agent: AgentRef,
    pub sla: HandoffSla,
    /// For a dual handoff: the parallel handoff to the other role.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parallel_handoff_ids: Vec<Uuid>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffSla {
    pub acceptance_deadline: String,
    pub first_contact_deadline: String,
}

async fn name_of(tx: &mut Tx, agent: Uuid) -> Result<String, Problem> {
    Ok(
        sqlx::query_scalar("SELECT full_name FROM agent_profiles WHERE agent_id = $1")
            .bind(agent)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or_default(),
    )
}

/// An eligible receiver for `role`: the given one (holding the role, active, not `exclude`), or
/// the best available by the assignment rules.
async fn receiver(
    tx: &mut Tx,
    role: &str,
    wanted: Option<Uuid>,
    exclude: &[Uuid],
    online: Option<&[Uuid]>,
) -> Result<Option<Uuid>, Problem> {
    if let Some(w) = wanted {
        let ok: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM agent_profiles WHERE agent_id = $1 AND is_active AND $2 = ANY(roles))")
            .bind(w)
            .bind(role)
            .fetch_one(&mut **tx)
            .await?;
        return Ok((ok && !exclude.contains(&w)).then_some(w));
    }
    let candidates: Vec<Uuid> = sqlx::query_scalar(
        "SELECT p.agent_id FROM agent_profiles p LEFT JOIN (SELECT agent_id, count(*) AS n FROM client_assignments \
         WHERE status = 'active' GROUP BY agent_id) a ON a.agent_id = p.agent_id \
         WHERE p.is_active AND p.auto_assign AND $1 = ANY(p.roles) \
           AND CASE WHEN $3::uuid[] IS NULL THEN p.status = 'online' ELSE p.agent_id = ANY($3) END \
           AND coalesce(a.n, 0) < p.max_capacity AND NOT (p.agent_id = ANY($2)) \
         ORDER BY coalesce(a.n, 0)::float8 / p.max_capacity, p.agent_id LIMIT 1",
    )
    .bind(role)
    .bind(exclude)
    .bind(online)
    .fetch_all(&mut **tx)
    .await?;
    Ok(candidates.into_iter().next())
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &mut Tx,
    org: Uuid,
    client: Uuid,
    from: (Uuid, &str),
    to: (Uuid, &str),
    kind: &str,
    reason: Option<&str>,
    urgency: &str,
    context: &Value,
    previous: Option<Uuid>,
) -> Result<(Uuid, OffsetDateTime), Problem> {
    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    sqlx::query(
        "INSERT INTO handoffs (id, organization_id, client_id, from_agent_id, from_role, to_agent_id, to_role, lifecycle_stage_from, \
         lifecycle_stage_to, handoff_type, handoff_reason, urgency, context, previous_handoff_id, acceptance_deadline, first_contact_deadline) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(id)
    .bind(org)
    .bind(client)
    .bind(from.0)
    .bind(from.1)
    .bind(to.0)
    .bind(to.1)
    .bind(stage_of(from.1))
    .bind(stage_of(to.1))
    .bind(kind)
    .bind(reason)
    .bind(urgency)
    .bind(context)
    .bind(previous)
    .bind(now + ACCEPT_WITHIN)
    .bind(now + FIRST_CONTACT_WITHIN)
    .execute(&mut **tx)
    .await?;
    outbox::publish(
        tx,
        SOURCE,
        org,
        client,
        &v1::HandoffInitiated {
            handoff_id: id.to_string(),
            client_id: client.to_string(),
            from_agent_id: from.0.to_string(),
            to_agent_id: to.0.to_string(),
            from_role: from.1.to_string(),
            to_role: to.1.to_string(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    activity::log(
        tx,
        from.0,
        None,
        "handoff_initiated",
        Some(org),
        json!({"handoff_id": id, "to_agent_id": to.0, "to_role": to.1}),
    )
    .await?;
    Ok((id, now))
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
    for (field, r) in [("from_role", &req.from_role), ("to_role", &req.to_role)] {
        if !ROLES.contains(&r.as_str()) || r == "platform_admin" {
            return Err(Problem::invalid(field, "unknown or non-client-facing role"));
        }
    }
    if !matches!(req.handoff_type.as_str(), "warm" | "standard" | "dual") {
        return Err(Problem::invalid(
            "handoff_type",
            "must be warm, standard or dual",
        ));
    }
    let urgency = req.urgency.as_deref().unwrap_or("normal");
    if !matches!(urgency, "low" | "normal" | "high" | "urgent") {
        return Err(Problem::invalid(
            "urgency",
            "must be low, normal, high or urgent",
        ));
    }
    if req.from_role == req.to_role {
        return Err(Problem::invalid(
            "to_role",
            "a handoff goes to another role",
        ));
    }
    if req.target_agent_id == Some(me) {
        return Err(Problem::invalid(
            "target_agent_id",
            "a handoff goes to another agent",
        ));
    }
    let to_roles: Vec<String> = if req.handoff_type == "dual" {
        vec!["support_specialist".into(), "success_manager".into()]
    } else {
        vec![req.to_role.clone()]
    };
    let notes = req.context.important_notes.as_deref().unwrap_or_default();
    if notes.chars().count() > 5000
        || req.context.next_actions.len() > 50
        || req.context.completed_items.len() > 100
    {
        return Err(Problem::invalid("context", "too large"));
    }
    s.limiter
        .enforce(
            "handoffs",
            Subject::Key(&me.to_string()),
            Limit::per_hour(50),
        )
        .await?;
    let context = json!({
        "current_stage": req.context.current_stage,
        "next_actions": req.context.next_actions,
        "client_preferences": req.context.client_preferences,
        "completed_items": req.context.completed_items,
        "important_notes": req.context.important_notes,
    });
    let online = s.presence.online().await;
    let mut tx = store::begin(&s.db, Scope::agent(Some(req.organization_id))).await?;
    let holds: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM client_assignments WHERE client_id = $1 AND organization_id = $2 AND agent_id = $3 \
         AND role_type = $4 AND status = 'active')",
    )
    .bind(req.client_id)
    .bind(req.organization_id)
    .bind(me)
    .bind(&req.from_role)
    .fetch_one(&mut *tx)
    .await?;
    if !holds {
        return Err(Problem::not_found(
            "your active assignment for this client in from_role",
        ));
    }
    let mut created = Vec::new();
    for role in &to_roles {
        let wanted = if role == &req.to_role {
            req.target_agent_id
        } else {
            None
        };
        let to = receiver(&mut tx, role, wanted, &[me], online.as_deref())
            .await?
            .ok_or_else(|| Problem::conflict(format!("no {role} can take the client now")))?;
        let (id, at) = insert(
            &mut tx,
            req.organization_id,
            req.client_id,
            (me, &req.from_role),
            (to, role),
            &req.handoff_type,
            req.handoff_reason.as_deref(),
            urgency,
            &context,
            None,
        )
        .await?;
        created.push((id, to, role.clone(), at));
    }
    let from_name = name_of(&mut tx, me).await?;
    let (id, to, role, at) = created[0].clone();
    let to_name = name_of(&mut tx, to).await?;
    tx.commit().await.map_err(Problem::from)?;
    let receivers: Vec<Uuid> = created.iter().map(|c| c.1).collect();
    s.presence.sync_queues(&s.db, &receivers).await;
    Ok((
        StatusCode::CREATED,
        Json(HandoffCreated {
            handoff_id: id,
            client_id: req.client_id,
            handoff_type: req.handoff_type,
            status: "pending",
            from_agent: AgentRef {
                agent_id: me,
                full_name: from_name,
                role_type: req.from_role,
                status: None,
            },
            to_agent: AgentRef {
                agent_id: to,
                full_name: to_name,
                role_type: role,
                status: Some("pending_acceptance"),
            },
            sla: HandoffSla {
                acceptance_deadline: rfc3339(at + ACCEPT_WITHIN),
                first_contact_deadline: rfc3339(at + FIRST_CONTACT_WITHIN),
            },
            parallel_handoff_ids: created.iter().skip(1).map(|c| c.0).collect(),
            created_at: rfc3339(at),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `accept` or `reject`.
    pub action: String,
    #[serde(default)]
    pub acceptance_notes: Option<String>,
    #[serde(default)]
    pub rejection_reason: Option<String>,
    #[serde(default)]
    pub suggested_agent_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Decided {
    pub handoff_id: Uuid,
    pub status: String,
    pub decided_by: Uuid,
    pub decided_at: String,
    /// Accepted: the new assignment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_id: Option<Uuid>,
    /// Rejected: whether the next agent was proposed, and who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reassignment_queued: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_available_agent: Option<AgentRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_handoff_id: Option<Uuid>,
}

/// Accept or reject a handoff (its proposed agent, or a platform admin). Decided once: a second
/// decision is a 409.
#[utoipa::path(post, path = "/api/v1/agents/handoffs/{handoff_id}/accept", tag = "handoffs", security(("bearer" = [])),
    params(("handoff_id" = Uuid, Path)), request_body = Decision,
    responses((status = 200, body = Decided), (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
pub async fn decide(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<Uuid>,
    Json(req): Json<Decision>,
) -> Result<Json<Decided>, Problem> {
    let me = p.require_agent()?;
    let accept = crate::accepts(&req.action)?;
    let reason = req
        .rejection_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if !accept && reason.is_none() {
        return Err(Problem::invalid(
            "rejection_reason",
            "is required to reject",
        ));
    }
    let online = s.presence.online().await;
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    let h = sqlx::query(
        "SELECT organization_id, client_id, from_agent_id, from_role, to_agent_id, to_role, handoff_type, handoff_reason, urgency, context, status \
         FROM handoffs WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Problem::not_found("handoff"))?;
    let (org, client, from, from_role, to, to_role): (Uuid, Uuid, Uuid, String, Uuid, String) =
        (h.get(0), h.get(1), h.get(2), h.get(3), h.get(4), h.get(5));
    if to != me && !p.is_platform_admin() {
        return Err(Problem::forbidden(
            "only the proposed agent decides this handoff",
        ));
    }
    let status: String = h.get(10);
    if status != "pending" {
        return Err(Problem::conflict(format!(
            "the handoff was already {status}"
        )));
    }
    let notes = if accept {
        req.acceptance_notes.clone()
    } else {
        reason.map(str::to_string)
    };
    let decided: OffsetDateTime = sqlx::query_scalar(
        "UPDATE handoffs SET status = $2, decided_at = now(), decision_notes = $3 WHERE id = $1 AND status = 'pending' RETURNING decided_at",
    )
    .bind(id)
    .bind(if accept { "accepted" } else { "rejected" })
    .bind(&notes)
    .fetch_one(&mut *tx)
    .await?;
    let mut out = Decided {
        handoff_id: id,
        status: if accept {
            "accepted".into()
        } else {
            "rejected".into()
        },
        decided_by: me,
        decided_at: rfc3339(decided),
        assignment_id: None,
        reassignment_queued: None,
        next_available_agent: None,
        next_handoff_id: None,
    };
    if accept {
        // The previous holder's assignment is transferred; the receiver's starts.
        sqlx::query(
            "UPDATE client_assignments SET status = 'transferred', ended_at = now() WHERE client_id = $1 AND organization_id = $2 \
             AND role_type = $3 AND status = 'active'",
        )
        .bind(client)
        .bind(org)
        .bind(&from_role)
        .execute(&mut *tx)
        .await?;
        let r = assign::Request {
            organization_id: org,
            client_id: client,
            role: &to_role,
            skills: &[],
            language: None,
            kind: "handoff",
            source_event: None,
            online: None, // a named agent: presence is not a condition
        };
        let a = assign::try_agent(&mut tx, to, &r, false)
            .await?
            .ok_or_else(|| Problem::conflict("the receiving agent has no free capacity"))?;
        out.assignment_id = Some(a.assignment_id);
        outbox::publish(
            &mut tx,
            SOURCE,
            org,
            client,
            &v1::HandoffAccepted {
                handoff_id: id.to_string(),
                client_id: client.to_string(),
                accepted_by_agent_id: to.to_string(),
                timestamp: now_rfc3339(),
            },
        )
        .await?;
        activity::log(
            &mut tx,
            to,
            Some(p.user_id),
            "handoff_accepted",
            Some(org),
            json!({"handoff_id": id}),
        )
        .await?;
    } else {
        let (kind, why, urgency, context): (String, Option<String>, String, Value) =
            (h.get(6), h.get(7), h.get(8), h.get(9));
        let next = receiver(
            &mut tx,
            &to_role,
            req.suggested_agent_id,
            &[from, to],
            online.as_deref(),
        )
        .await?;
        let next = match next {
            Some(n) => Some(n),
            None if req.suggested_agent_id.is_some() => {
                receiver(&mut tx, &to_role, None, &[from, to], online.as_deref()).await?
            }
            None => None,
        };
        if let Some(n) = next {
            let (nid, _) = insert(
                &mut tx,
                org,
                client,
                (from, &from_role),
                (n, &to_role),
                &kind,
                why.as_deref(),
                &urgency,
                &context,
                Some(id),
            )
            .await?;
            out.next_handoff_id = Some(nid);
            out.next_available_agent = Some(AgentRef {
                agent_id: n,
                full_name: name_of(&mut tx, n).await?,
                role_type: to_role.clone(),
                status: Some("pending_acceptance"),
            });
        }
        out.reassignment_queued = Some(next.is_some());
        outbox::publish(
            &mut tx,
            SOURCE,
            org,
            client,
            &v1::HandoffRejected {
                handoff_id: id.to_string(),
                client_id: client.to_string(),
                rejected_by_agent_id: to.to_string(),
                reason: reason.unwrap_or_default().to_string(),
                reassignment_queued: next.is_some(),
                timestamp: now_rfc3339(),
            },
        )
        .await?;
        activity::log(
            &mut tx,
            to,
            Some(p.user_id),
            "handoff_rejected",
            Some(org),
            json!({"handoff_id": id, "reason": reason}),
        )
        .await?;
    }
    tx.commit().await.map_err(Problem::from)?;
    let mut touched = vec![to];
    touched.extend(out.next_available_agent.as_ref().map(|a| a.agent_id));
    s.presence.sync_queues(&s.db, &touched).await;
    Ok(Json(out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageEntry {
    pub stage: String,
    pub role_type: String,
    pub agent_id: Uuid,
    pub agent_name: String,
    pub start_date: String,
    pub end_date: Option<String>,
    pub duration_days: i64,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FutureStage {
    pub stage: &'static str,
    pub role_type: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub client_id: Uuid,
    pub current_stage: Option<String>,
    pub lifecycle_timeline: Vec<StageEntry>,
    pub pending_handoffs: Vec<Uuid>,
    pub future_stages: Vec<FutureStage>,
}

const LIFECYCLE: &[(&str, &str)] = &[
    ("sales", "sales_agent"),
    ("onboarding", "onboarding_specialist"),
    ("support", "support_specialist"),
    ("success", "success_manager"),
];

/// A client's lifecycle so far and to come (agents; a client user for its own organisation).
#[utoipa::path(get, path = "/api/v1/agents/clients/{client_id}/timeline", tag = "handoffs", security(("bearer" = [])),
    params(("client_id" = Uuid, Path)), responses((status = 200, body = Timeline), (status = 404, body = kit::ProblemBody)))]
pub async fn timeline(
    State(s): State<AppState>,
    p: Principal,
    Path(client): Path<Uuid>,
) -> Result<Json<Timeline>, Problem> {
    // A client's transaction sees only its own organisation's rows (RLS).
    let scope = if p.is_agent() {
        Scope::agent(None)
    } else {
        Scope::tenant(p.require_org()?)
    };
    let mut tx = store::begin(&s.db, scope).await?;
    let rows = sqlx::query(
        "SELECT a.lifecycle_stage, a.role_type, a.agent_id, coalesce(p.full_name, ''), a.created_at, a.ended_at, a.status \
         FROM client_assignments a LEFT JOIN agent_profiles p ON p.agent_id = a.agent_id WHERE a.client_id = $1 ORDER BY a.created_at",
    )
    .bind(client)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Err(Problem::not_found("client"));
    }
    let now = OffsetDateTime::now_utc();
    let entries: Vec<StageEntry> = rows
        .iter()
        .map(|r| {
            let start: OffsetDateTime = r.get(4);
            let end: Option<OffsetDateTime> = r.get(5);
            StageEntry {
                stage: r.get(0),
                role_type: r.get(1),
                agent_id: r.get(2),
                agent_name: r.get(3),
                start_date: rfc3339(start),
                end_date: end.map(rfc3339),
                duration_days: (end.unwrap_or(now) - start).whole_days(),
                status: if r.get::<String, _>(6) == "active" {
                    "in_progress".into()
                } else {
                    r.get(6)
                },
            }
        })
        .collect();
    let pending: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM handoffs WHERE client_id = $1 AND status = 'pending' ORDER BY initiated_at",
    )
    .bind(client)
    .fetch_all(&mut *tx)
    .await?;
    let current = entries
        .iter()
        .rev()
        .find(|e| e.status == "in_progress")
        .map(|e| e.stage.clone());
    let reached = LIFECYCLE
        .iter()
        .rposition(|(st, _)| entries.iter().any(|e| &e.stage == st))
        .unwrap_or(0);
    Ok(Json(Timeline {
        client_id: client,
        current_stage: current,
        lifecycle_timeline: entries,
        pending_handoffs: pending,
        future_stages: LIFECYCLE[reached + 1..]
            .iter()
            .map(|(st, r)| FutureStage {
                stage: st,
                role_type: r,
            })
            .collect(),
    }))
}

/// Handoffs still waiting for `agent` go to the next available agent (the agent went offline
/// with auto-assign on). Returns the agents they went to.
pub async fn redistribute(
    tx: &mut Tx,
    agent: Uuid,
    online: Option<&[Uuid]>,
) -> Result<Vec<Uuid>, Problem> {
    let pending = sqlx::query(
        "UPDATE handoffs SET status = 'rejected', decided_at = now(), decision_notes = 'agent went offline' \
         WHERE to_agent_id = $1 AND status = 'pending' \
         RETURNING id, organization_id, client_id, from_agent_id, from_role, to_role, handoff_type, handoff_reason, urgency, context",
    )
    .bind(agent)
    .fetch_all(&mut **tx)
    .await?;
    let mut moved = Vec::new();
    for h in &pending {
        let (id, org, client, from, from_role, to_role): (Uuid, Uuid, Uuid, Uuid, String, String) =
            (h.get(0), h.get(1), h.get(2), h.get(3), h.get(4), h.get(5));
        let (kind, why, urgency, context): (String, Option<String>, String, Value) =
            (h.get(6), h.get(7), h.get(8), h.get(9));
        let next = receiver(tx, &to_role, None, &[from, agent], online).await?;
        if let Some(n) = next {
            insert(
                tx,
                org,
                client,
                (from, &from_role),
                (n, &to_role),
                &kind,
                why.as_deref(),
                &urgency,
                &context,
                Some(id),
            )
            .await?;
            moved.push(n);
        }
        outbox::publish(
            tx,
            SOURCE,
            org,
            client,
            &v1::HandoffRejected {
                handoff_id: id.to_string(),
                client_id: client.to_string(),
                rejected_by_agent_id: agent.to_string(),
                reason: "agent_offline".into(),
                reassignment_queued: next.is_some(),
                timestamp: now_rfc3339(),
            },
        )
        .await?;
    }
    Ok(moved)
}
