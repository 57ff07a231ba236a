//! Specialist invitations (spec §0.5, endpoint 5): an agent invites a specialist for an upsell,
//! a cross-sell, a technical consultation or an iteration; the specialist accepts (and works
//! beside the client's agent) or declines, and completes with an outcome. At most 20
//! invitations a day per inviting agent and 5 active ones per client.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Problem,
    auth::Principal,
    cache::{Limit, Subject},
    contracts::events::v1,
    store::{self, Scope, outbox},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{AppState, SOURCE, activity, agents::ROLES, assign, now_rfc3339, rfc3339};

const MAX_ACTIVE_PER_CLIENT: i64 = 5;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub client_id: Uuid,
    pub organization_id: Uuid,
    /// e.g. `sales_specialist`.
    pub invited_role: String,
    /// `upsell`, `cross_sell`, `technical_consultation` or `iteration`.
    pub invitation_reason: String,
    #[serde(default)]
    pub opportunity_type: Option<String>,
    #[serde(default)]
    pub estimated_value: Option<f64>,
    #[serde(default)]
    pub background: Option<String>,
    /// Chosen among available specialists when absent.
    #[serde(default)]
    pub target_agent_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub invitation_id: Uuid,
    pub client_id: Uuid,
    pub invited_role: String,
    pub invited_agent_id: Uuid,
    pub status: String,
    pub invited_at: String,
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
    if !ROLES.contains(&req.invited_role.as_str()) || req.invited_role == "platform_admin" {
        return Err(Problem::invalid(
            "invited_role",
            "unknown or non-client-facing role",
        ));
    }
    if !matches!(
        req.invitation_reason.as_str(),
        "upsell" | "cross_sell" | "technical_consultation" | "iteration"
    ) {
        return Err(Problem::invalid(
            "invitation_reason",
            "must be upsell, cross_sell, technical_consultation or iteration",
        ));
    }
    if req.target_agent_id == Some(me) {
        return Err(Problem::invalid("target_agent_id", "invite someone else"));
    }
    if req
        .estimated_value
        .is_some_and(|v| !(0.0..1e12).contains(&v))
    {
        return Err(Problem::invalid(
            "estimated_value",
            "must be a non-negative amount",
        ));
    }
    if req
        .background
        .as_deref()
        .is_some_and(|b| b.chars().count() > 5000)
        || req
            .opportunity_type
            .as_deref()
            .is_some_and(|o| o.len() > 100)
    {
        return Err(Problem::invalid("background", "too long"));
    }
    let mut tx = store::begin(&s.db, Scope::agent(Some(req.organization_id))).await?;
    let serves: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM client_assignments WHERE client_id = $1 AND organization_id = $2 AND agent_id = $3 AND status = 'active')",
    )
    .bind(req.client_id)
    .bind(req.organization_id)
    .bind(me)
    .fetch_one(&mut *tx)
    .await?;
    if !serves {
        return Err(Problem::not_found("your active assignment for this client"));
    }
    // The client's invitations are counted under a lock on them: two at once cannot make six.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(req.client_id)
        .execute(&mut *tx)
        .await?;
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM specialist_invitations WHERE client_id = $1 AND status IN ('pending', 'accepted')")
        .bind(req.client_id)
        .fetch_one(&mut *tx)
        .await?;
    if active >= MAX_ACTIVE_PER_CLIENT {
        return Err(Problem::conflict(
            "this client already has 5 active specialist invitations",
        ));
    }
    s.limiter
        .enforce(
            "specialist-invitations",
            Subject::Key(&me.to_string()),
            Limit::per_day(20),
        )
        .await?;
    let target: Option<Uuid> = match req.target_agent_id {
        Some(t) => sqlx::query_scalar("SELECT agent_id FROM agent_profiles WHERE agent_id = $1 AND is_active AND $2 = ANY(roles)")
            .bind(t)
            .bind(&req.invited_role)
            .fetch_optional(&mut *tx)
            .await?,
        None => sqlx::query_scalar(
            "SELECT agent_id FROM agent_profiles WHERE is_active AND status = 'online' AND $1 = ANY(roles) AND agent_id <> $2 ORDER BY agent_id LIMIT 1",
        )
        .bind(&req.invited_role)
        .bind(me)
        .fetch_optional(&mut *tx)
        .await?,
    };
    let target = target
        .ok_or_else(|| Problem::conflict(format!("no {} can be invited now", req.invited_role)))?;
    let id = Uuid::now_v7();
    let at: time::OffsetDateTime = sqlx::query_scalar(
        "INSERT INTO specialist_invitations (id, organization_id, client_id, invited_by_agent_id, specialist_agent_id, specialist_role, \
         invitation_reason, opportunity_type, estimated_value, background) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::numeric,$10) RETURNING invited_at",
    )
    .bind(id)
    .bind(req.organization_id)
    .bind(req.client_id)
    .bind(me)
    .bind(target)
    .bind(&req.invited_role)
    .bind(&req.invitation_reason)
    .bind(&req.opportunity_type)
    .bind(req.estimated_value.map(|v| format!("{v:.2}")))
    .bind(&req.background)
    .fetch_one(&mut *tx)
    .await?;
    outbox::publish(
        &mut tx,
        SOURCE,
        req.organization_id,
        req.client_id,
        &v1::SpecialistInvited {
            invitation_id: id.to_string(),
            client_id: req.client_id.to_string(),
            invited_by_agent_id: me.to_string(),
            invited_agent_id: target.to_string(),
            reason: req.invitation_reason.clone(),
            timestamp: now_rfc3339(),
        },
    )
    .await?;
    activity::log(
        &mut tx,
        me,
        Some(p.user_id),
        "specialist_invited",
        Some(req.organization_id),
        json!({"invitation_id": id, "specialist": target}),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok((
        StatusCode::CREATED,
        Json(Invitation {
            invitation_id: id,
            client_id: req.client_id,
            invited_role: req.invited_role,
            invited_agent_id: target,
            status: "pending".into(),
            invited_at: rfc3339(at),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Respond {
    /// `accept` or `reject`.
    pub action: String,
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
    let accept = crate::accepts(&req.action)?;
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    let r = sqlx::query("SELECT organization_id, client_id, specialist_agent_id, specialist_role, status, invited_at FROM specialist_invitations WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Problem::not_found("invitation"))?;
    let (org, client, specialist, role, status): (Uuid, Uuid, Uuid, String, String) =
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
    if specialist != me {
        return Err(Problem::forbidden("only the invited specialist responds"));
    }
    if status != "pending" {
        return Err(Problem::conflict(format!(
            "the invitation was already {status}"
        )));
    }
    let mut assignment = None;
    if accept {
        let req = assign::Request {
            organization_id: org,
            client_id: client,
            role: &role,
            skills: &[],
            language: None,
            kind: "specialist",
            source_event: None,
            online: None, // a named agent: presence is not a condition
        };
        let a = assign::try_agent(&mut tx, me, &req, false)
            .await?
            .ok_or_else(|| Problem::conflict("no free capacity to join this client"))?;
        assignment = Some(a.assignment_id);
    }
    let new_status = if accept { "accepted" } else { "rejected" };
    sqlx::query("UPDATE specialist_invitations SET status = $2, decided_at = now(), assignment_id = $3 WHERE id = $1")
        .bind(id)
        .bind(new_status)
        .bind(assignment)
        .execute(&mut *tx)
        .await?;
    activity::log(
        &mut tx,
        me,
        Some(p.user_id),
        if accept {
            "specialist_invitation_accepted"
        } else {
            "specialist_invitation_rejected"
        },
        Some(org),
        json!({"invitation_id": id}),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(Invitation {
        invitation_id: id,
        client_id: client,
        invited_role: role,
        invited_agent_id: me,
        status: new_status.into(),
        invited_at: rfc3339(r.get(5)),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    /// e.g. `{"deal_closed": true, "revenue": 50000, "next_steps": "..."}`.
    #[schema(value_type = Object)]
    pub outcome: Value,
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
    if !req.outcome.is_object() || req.outcome.to_string().len() > 10_000 {
        return Err(Problem::invalid(
            "outcome",
            "must be an object (at most 10 kB)",
        ));
    }
    let mut tx = store::begin(&s.db, Scope::agent(None)).await?;
    let r = sqlx::query("SELECT organization_id, client_id, specialist_agent_id, specialist_role, status, invited_at, assignment_id FROM specialist_invitations WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Problem::not_found("invitation"))?;
    let (org, client, specialist, role, status): (Uuid, Uuid, Uuid, String, String) =
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
    if specialist != me {
        return Err(Problem::forbidden(
            "only the specialist completes its invitation",
        ));
    }
    if status != "accepted" {
        return Err(Problem::conflict(format!(
            "the invitation is {status}, not accepted"
        )));
    }
    sqlx::query("UPDATE specialist_invitations SET status = 'completed', completed_at = now(), outcome = $2 WHERE id = $1")
        .bind(id)
        .bind(&req.outcome)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE client_assignments SET status = 'completed', ended_at = now() WHERE id = $1",
    )
    .bind(r.get::<Option<Uuid>, _>(6))
    .execute(&mut *tx)
    .await?;
    activity::log(
        &mut tx,
        me,
        Some(p.user_id),
        "specialist_invitation_completed",
        Some(org),
        json!({"invitation_id": id, "outcome": req.outcome}),
    )
    .await?;
    tx.commit().await.map_err(Problem::from)?;
    Ok(Json(Invitation {
        invitation_id: id,
        client_id: client,
        invited_role: role,
        invited_agent_id: me,
        status: "completed".into(),
        invited_at: rfc3339(r.get(5)),
    }))
}
