//! Client assignment: manual, automatic (skills, languages, capacity, presence; least
//! utilised first, then fewest recent assignments), and from `assisted_account_created`.
//!
//! Capacity holds under concurrency: the chosen agent's row is locked (`FOR UPDATE`) before its
//! active assignments are counted, so two assignments racing for the last slot serialise and
//! the second sees the first.
use axum::{extract::State, http::StatusCode};
use kit::{
    Json, Problem,
    auth::Principal,
    contracts::events::v1,
    events::{Envelope, Handler, HandlerError},
    store::{self, Scope, Tx, outbox},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{AppState, SOURCE, activity, agents::ROLES, now_rfc3339, rfc3339};

/// First contact is due two hours after assignment; the stage is expected to take a week
/// (the spec's example).
const FIRST_CONTACT: Duration = Duration::hours(2);
const EXPECTED_COMPLETION: Duration = Duration::days(7);

pub fn stage_of(role: &str) -> &'static str {
    match role {
        "sales_agent" => "sales",
        "onboarding_specialist" => "onboarding",
        "support_specialist" => "support",
        "success_manager" => "success",
        _ => "upsell",
    }
}

/// What an assignment needs.
pub struct Request<'a> {
    pub organization_id: Uuid,
    pub client_id: Uuid,
    pub role: &'a str,
    pub skills: &'a [String],
    pub language: Option<&'a str>,
    pub kind: &'a str,
    pub source_event: Option<Uuid>,
    /// The online agents from Redis presence; `None` reads presence from the record.
    pub online: Option<&'a [Uuid]>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Assigned {
    pub assignment_id: Uuid,
    pub client_id: Uuid,
    pub organization_id: Uuid,
    pub agent_id: Uuid,
    pub agent_name: String,
    pub role_type: String,
    pub lifecycle_stage: String,
    pub assignment_type: String,
    pub status: &'static str,
    pub assigned_at: String,
    pub sla: Sla,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sla {
    pub first_contact_deadline: String,
    pub expected_completion: String,
}

/// Locks `agent` and assigns if it is eligible and has a free slot; `None` when it cannot take
/// the client.
pub(crate) async fn try_agent(
    tx: &mut Tx,
    agent: Uuid,
    r: &Request<'_>,
    need_online: bool,
) -> Result<Option<Assigned>, Problem> {
    let row = sqlx::query(
        "SELECT full_name, max_capacity, status, is_active, roles FROM agent_profiles WHERE agent_id = $1 FOR UPDATE",
    )
    .bind(agent)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let (name, capacity, status, active, roles): (String, i32, String, bool, Vec<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    if !active || !roles.iter().any(|x| x == r.role) || (need_online && status != "online") {
        return Ok(None);
    }
    if r.kind != "specialist" {
        // One agent per client and role; specialists work beside the client's agent.
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM client_assignments WHERE client_id = $1 AND role_type = $2 AND status = 'active')",
        )
        .bind(r.client_id)
        .bind(r.role)
        .fetch_one(&mut **tx)
        .await?;
        if taken {
            return Err(Problem::conflict(
                "the client already has an active agent in this role",
            ));
        }
    }
    let load: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM client_assignments WHERE agent_id = $1 AND status = 'active'",
    )
    .bind(agent)
    .fetch_one(&mut **tx)
    .await?;
    if load >= i64::from(capacity) {
        return Ok(None);
    }
    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    let stage = stage_of(r.role);
    let inserted = sqlx::query(
        "INSERT INTO client_assignments (id, organization_id, client_id, agent_id, role_type, lifecycle_stage, assignment_type, \
         source_event_id, first_response_due_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(r.organization_id)
    .bind(r.client_id)
    .bind(agent)
    .bind(r.role)
    .bind(stage)
    .bind(r.kind)
    .bind(r.source_event)
    .bind(now + FIRST_CONTACT)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Problem::conflict(
            "the client already has an active agent in this role",
        ));
    }
    outbox::publish(
        tx,
        SOURCE,
        r.organization_id,
        r.client_id,
        &v1::ClientAssignedToAgent {
            assignment_id: id.to_string(),
            client_id: r.client_id.to_string(),
            agent_id: agent.to_string(),
            role_type: r.role.to_string(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    activity::log(
        tx,
        agent,
        None,
        "client_assigned",
        Some(r.organization_id),
        json!({"client_id": r.client_id, "assignment_type": r.kind}),
    )
    .await?;
    Ok(Some(Assigned {
        assignment_id: id,
        client_id: r.client_id,
        organization_id: r.organization_id,
        agent_id: agent,
        agent_name: name,
        role_type: r.role.to_string(),
        lifecycle_stage: stage.to_string(),
        assignment_type: r.kind.to_string(),
        status: "active",
        assigned_at: rfc3339(now),
        sla: Sla {
            first_contact_deadline: rfc3339(now + FIRST_CONTACT),
            expected_completion: rfc3339(now + EXPECTED_COMPLETION),
        },
    }))
}

/// Picks the best available agent: online, auto-assign on, holding the role, matching skills
/// and language, with a free slot; least utilised, then fewest assignments in the last day.
pub(crate) async fn auto(
    tx: &mut Tx,
    r: &Request<'_>,
    except: &[Uuid],
) -> Result<Option<Assigned>, Problem> {
    let candidates: Vec<Uuid> = sqlx::query_scalar(
        "SELECT p.agent_id FROM agent_profiles p \
         LEFT JOIN (SELECT agent_id, count(*) FILTER (WHERE status = 'active') AS n, \
                    count(*) FILTER (WHERE created_at > now() - interval '1 day') AS recent \
                    FROM client_assignments GROUP BY agent_id) a ON a.agent_id = p.agent_id \
         WHERE p.is_active AND p.auto_assign AND $1 = ANY(p.roles) AND p.skills @> $2 \
           AND CASE WHEN $5::uuid[] IS NULL THEN p.status = 'online' ELSE p.agent_id = ANY($5) END \
           AND ($3::text IS NULL OR $3 = ANY(p.languages)) AND coalesce(a.n, 0) < p.max_capacity \
           AND NOT (p.agent_id = ANY($4)) \
         ORDER BY coalesce(a.n, 0)::float8 / p.max_capacity, coalesce(a.recent, 0), p.agent_id LIMIT 20",
    )
    .bind(r.role)
    .bind(r.skills)
    .bind(r.language)
    .bind(except)
    .bind(r.online)
    .fetch_all(&mut **tx)
    .await?;
    for c in candidates {
        // Re-checked under the row lock: another assignment may have taken the last slot.
        if let Some(a) = try_agent(tx, c, r, true).await? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    pub client_id: Uuid,
    pub organization_id: Uuid,
    pub role_type: String,
    /// `auto` (default) or `manual` (with `agent_id`).
    #[serde(default)]
    pub assignment_type: Option<String>,
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    pub required_skills: Vec<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub assignment_reason: Option<String>,
}

/// Assign a client to an agent, manually or automatically (platform admins and agents holding
/// `client_management.update`). Publishes `client_assigned_to_agent`.
#[utoipa::path(post, path = "/api/v1/agents/assignments", tag = "assignments", security(("bearer" = [])),
    request_body = AssignmentRequest,
    responses((status = 201, body = Assigned), (status = 409, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
pub async fn create_assignment(
    State(s): State<AppState>,
    p: Principal,
    kit::Json(req): kit::Json<AssignmentRequest>,
) -> Result<(StatusCode, Json<Assigned>), Problem> {
    p.require_agent()?;
    p.require_permission("client_management", "update")?;
    if !ROLES.contains(&req.role_type.as_str()) || req.role_type == "platform_admin" {
        return Err(Problem::invalid(
            "role_type",
            "unknown or non-client-facing role",
        ));
    }
    let kind = req.assignment_type.as_deref().unwrap_or("auto");
    if !matches!(kind, "auto" | "manual") {
        return Err(Problem::invalid(
            "assignment_type",
            "must be auto or manual",
        ));
    }
    if kind == "manual" && req.agent_id.is_none() {
        return Err(Problem::invalid(
            "agent_id",
            "is required for a manual assignment",
        ));
    }
    let skills: Vec<String> = req
        .required_skills
        .iter()
        .map(|x| x.trim().to_ascii_lowercase())
        .collect();
    let online = s.presence.online().await;
    let r = Request {
        organization_id: req.organization_id,
        client_id: req.client_id,
        role: &req.role_type,
        skills: &skills,
        language: req.language.as_deref(),
        kind,
        source_event: None,
        online: online.as_deref(),
    };
    let mut tx = store::begin(&s.db, Scope::agent(Some(req.organization_id))).await?;
    let done = match req.agent_id.filter(|_| kind == "manual") {
        Some(agent) => try_agent(&mut tx, agent, &r, false).await?.ok_or_else(|| {
            Problem::conflict("that agent cannot take the client (role, capacity or inactive)")
        })?,
        None => auto(&mut tx, &r, &[]).await?.ok_or_else(|| {
            Problem::conflict("no agent with the role, skills and free capacity is online")
        })?,
    };
    if let Some(actor) = p.agent.as_ref().map(|a| a.agent_id) {
        activity::log(
            &mut tx,
            actor,
            Some(p.user_id),
            "assignment_created",
            Some(req.organization_id),
            json!({"assignment_id": done.assignment_id, "reason": req.assignment_reason}),
        )
        .await?;
    }
    tx.commit().await.map_err(Problem::from)?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// `assisted_account_created` → the client goes to the agent who created the account, or, if
/// it cannot take it, to the best available sales agent. The consumer runner makes this
/// exactly-once per event.
pub struct AssistedAccounts(pub crate::presence::Presence);

#[async_trait::async_trait]
impl Handler for AssistedAccounts {
    async fn handle(&self, tx: &mut store::Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.event_type != "assisted_account_created" {
            return Ok(()); // other auth events are not ours
        }
        let e: v1::AssistedAccountCreated = event.decode()?;
        let parse = |v: &str| v.parse::<Uuid>().map_err(HandlerError::failed);
        let (org, client) = (parse(&e.organization_id)?, parse(&e.user_id)?);
        let creator = e.created_by_agent_id.parse::<Uuid>().ok();
        // Agents' profiles are staff data: the service's own scope for the whole effect.
        store::set_scope(tx, Scope::system()).await?;
        let online = self.0.online().await;
        let r = Request {
            organization_id: org,
            client_id: client,
            role: "sales_agent",
            skills: &[],
            language: None,
            kind: "auto",
            source_event: event.event_id.parse().ok(),
            online: online.as_deref(),
        };
        let mut done = match creator {
            Some(a) => try_agent(tx, a, &r, false)
                .await
                .map_err(|p| HandlerError::failed(p.detail()))?,
            None => None,
        };
        if done.is_none() {
            done = auto(tx, &r, &creator.into_iter().collect::<Vec<_>>())
                .await
                .map_err(|p| HandlerError::failed(p.detail()))?;
        }
        if done.is_none() {
            tracing::warn!(client = %client, "no sales agent can take the assisted client yet");
            if let Some(a) = creator {
                activity::log(
                    tx,
                    a,
                    None,
                    "assignment_unfilled",
                    Some(org),
                    json!({"client_id": client}),
                )
                .await
                .map_err(|p| HandlerError::failed(p.detail()))?;
            }
        }
        Ok(())
    }
}
