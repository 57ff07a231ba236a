//! Routing: choosing the agent for a client and recording assignments. Automatic choice goes to
//! the least utilised eligible agent (skills, language, presence, auto-assign on), then the one
//! with the fewest assignments in the last day.
//!
//! Capacity holds under concurrency: the chosen agent's row is locked (`FOR UPDATE`) before its
//! active assignments are counted, so two assignments racing for the last slot serialise and
//! the second sees the first.
use kit::{Problem, Timestamp, contracts::events::v1, sqlx::PgConnection, uow::Work};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    activity::Entry,
    problems, roster,
    rules::{self, AssignmentKind, Role},
};

/// What an assignment needs.
pub struct Request<'a> {
    pub organization_id: Uuid,
    pub client_id: Uuid,
    pub role: Role,
    pub skills: &'a [String],
    pub language: Option<&'a str>,
    pub kind: AssignmentKind,
    pub source_event: Option<Uuid>,
    /// The online agents from Redis presence; `None` reads presence from the record.
    pub online: Option<&'a [Uuid]>,
}

impl<'a> Request<'a> {
    /// An assignment of `kind` to a named agent, whose presence is not a condition.
    pub fn named(org: Uuid, client: Uuid, role: Role, kind: AssignmentKind) -> Self {
        Request {
            organization_id: org,
            client_id: client,
            role,
            skills: &[],
            language: None,
            kind,
            source_event: None,
            online: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Assigned {
    pub assignment_id: Uuid,
    pub client_id: Uuid,
    pub organization_id: Uuid,
    pub agent_id: Uuid,
    pub agent_name: String,
    pub role_type: Role,
    pub lifecycle_stage: &'static str,
    pub assignment_type: AssignmentKind,
    pub status: &'static str,
    pub assigned_at: Timestamp,
    pub sla: Sla,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sla {
    pub first_contact_deadline: Timestamp,
    pub expected_completion: Timestamp,
}

fn role_taken() -> Problem {
    problems::ROLE_TAKEN.with("the client already has an active agent in this role")
}

/// Locks `agent` and assigns the client if it can serve it and has a free slot (emitting
/// `client_assigned_to_agent`, logging `client_assigned`); `None` when it cannot take the client.
pub async fn assign_to(
    w: &mut impl Work,
    agent: Uuid,
    r: &Request<'_>,
    need_online: bool,
) -> Result<Option<Assigned>, Problem> {
    let Some(profile) = roster::lock(w, agent).await? else {
        return Ok(None);
    };
    if !rules::can_serve(
        profile.is_active,
        &profile.roles,
        profile.status,
        r.role,
        need_online,
    ) {
        return Ok(None);
    }
    // One agent per client and role; specialists work beside the client's agent.
    if r.kind != AssignmentKind::Specialist && role_filled(w, r.client_id, r.role).await? {
        return Err(role_taken());
    }
    if !rules::has_free_slot(load(w, agent).await?, profile.max_capacity) {
        return Ok(None);
    }
    let id = Uuid::now_v7();
    let now = Timestamp::now();
    let inserted = sqlx::query(
        "INSERT INTO client_assignments (id, organization_id, client_id, agent_id, role_type, lifecycle_stage, assignment_type, \
         source_event_id, first_response_due_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(r.organization_id)
    .bind(r.client_id)
    .bind(agent)
    .bind(r.role)
    .bind(r.role.stage())
    .bind(r.kind)
    .bind(r.source_event)
    .bind(now + rules::FIRST_CONTACT)
    .execute(&mut **w)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(role_taken());
    }
    let event = v1::ClientAssignedToAgent {
        assignment_id: id.to_string(),
        client_id: r.client_id.to_string(),
        agent_id: agent.to_string(),
        role_type: r.role.to_string(),
    };
    w.emit(r.organization_id, r.client_id, &event).await?;
    let details = json!({"client_id": r.client_id, "assignment_type": r.kind});
    w.audit(
        Entry::new(agent, "client_assigned", details)
            .org(r.organization_id)
            .unattributed(),
    )
    .await?;
    Ok(Some(Assigned {
        assignment_id: id,
        client_id: r.client_id,
        organization_id: r.organization_id,
        agent_id: agent,
        agent_name: profile.full_name,
        role_type: r.role,
        lifecycle_stage: r.role.stage(),
        assignment_type: r.kind,
        status: "active",
        assigned_at: now,
        sla: Sla {
            first_contact_deadline: now + rules::FIRST_CONTACT,
            expected_completion: now + rules::EXPECTED_COMPLETION,
        },
    }))
}

async fn role_filled(conn: &mut PgConnection, client: Uuid, role: Role) -> Result<bool, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM client_assignments WHERE client_id = $1 AND role_type = $2 AND status = 'active')",
    )
    .bind(client)
    .bind(role)
    .fetch_one(conn)
    .await?)
}

async fn load(conn: &mut PgConnection, agent: Uuid) -> Result<i64, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM client_assignments WHERE agent_id = $1 AND status = 'active'",
    )
    .bind(agent)
    .fetch_one(conn)
    .await?)
}

/// Assigns the client to `named` (its presence no condition), or else to the best available
/// agent.
pub async fn assign(
    w: &mut impl Work,
    named: Option<Uuid>,
    r: &Request<'_>,
) -> Result<Option<Assigned>, Problem> {
    match named {
        Some(agent) => assign_to(w, agent, r, false).await,
        None => assign_best(w, r, &[]).await,
    }
}

/// Assigns the best available agent: online, auto-assign on, holding the role, matching skills
/// and language, with a free slot, not one of `except`; least utilised, then fewest
/// assignments in the last day.
pub async fn assign_best(
    w: &mut impl Work,
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
    .fetch_all(&mut **w)
    .await?;
    for c in candidates {
        // Re-checked under the row lock: another assignment may have taken the last slot.
        if let Some(a) = assign_to(w, c, r, true).await? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// An eligible receiver of a handoff in `role`: the one wanted (active, holding the role, not
/// in `exclude`), or else the least utilised available one by the assignment rules.
pub async fn receiver(
    conn: &mut PgConnection,
    role: Role,
    wanted: Option<Uuid>,
    exclude: &[Uuid],
    online: Option<&[Uuid]>,
) -> Result<Option<Uuid>, Problem> {
    if let Some(w) = wanted {
        let ok = roster::holds_role(conn, w, role).await?;
        return Ok((ok && !exclude.contains(&w)).then_some(w));
    }
    Ok(sqlx::query_scalar(
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
    .fetch_optional(conn)
    .await?)
}

/// A specialist to invite in `role`: the one wanted (active, holding the role), or else the
/// first online one other than `inviter`.
pub async fn specialist(
    conn: &mut PgConnection,
    role: Role,
    wanted: Option<Uuid>,
    inviter: Uuid,
) -> Result<Option<Uuid>, Problem> {
    Ok(match wanted {
        Some(t) => sqlx::query_scalar(
            "SELECT agent_id FROM agent_profiles WHERE agent_id = $1 AND is_active AND $2 = ANY(roles)",
        )
        .bind(t)
        .bind(role)
        .fetch_optional(conn)
        .await?,
        None => sqlx::query_scalar(
            "SELECT agent_id FROM agent_profiles WHERE is_active AND status = 'online' AND $1 = ANY(roles) \
             AND agent_id <> $2 ORDER BY agent_id LIMIT 1",
        )
        .bind(role)
        .bind(inviter)
        .fetch_optional(conn)
        .await?,
    })
}

/// Whether `agent` holds an active assignment for the client (in `role`, when given).
pub async fn serves(
    conn: &mut PgConnection,
    org: Uuid,
    client: Uuid,
    agent: Uuid,
    role: Option<Role>,
) -> Result<bool, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM client_assignments WHERE client_id = $1 AND organization_id = $2 AND agent_id = $3 \
         AND ($4::text IS NULL OR role_type = $4) AND status = 'active')",
    )
    .bind(client)
    .bind(org)
    .bind(agent)
    .bind(role)
    .fetch_one(conn)
    .await?)
}

/// Ends the client's active assignment in `role` as transferred (a handoff was accepted).
pub async fn transfer(
    conn: &mut PgConnection,
    org: Uuid,
    client: Uuid,
    role: Role,
) -> Result<(), Problem> {
    sqlx::query(
        "UPDATE client_assignments SET status = 'transferred', ended_at = now() WHERE client_id = $1 AND organization_id = $2 \
         AND role_type = $3 AND status = 'active'",
    )
    .bind(client)
    .bind(org)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends an assignment as completed (a specialist's work is done).
pub async fn complete(conn: &mut PgConnection, assignment: Option<Uuid>) -> Result<(), Problem> {
    sqlx::query(
        "UPDATE client_assignments SET status = 'completed', ended_at = now() WHERE id = $1",
    )
    .bind(assignment)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct WorkloadAssignment {
    pub assignment_id: Uuid,
    pub client_id: Uuid,
    pub organization_id: Uuid,
    pub role_type: String,
    pub lifecycle_stage: String,
    pub first_response_due_at: Timestamp,
    pub created_at: Timestamp,
}

/// The agent's active assignments, oldest first.
pub async fn active(
    conn: &mut PgConnection,
    agent: Uuid,
) -> Result<Vec<WorkloadAssignment>, Problem> {
    Ok(sqlx::query_as(
        "SELECT id AS assignment_id, client_id, organization_id, role_type, lifecycle_stage, first_response_due_at, created_at \
         FROM client_assignments WHERE agent_id = $1 AND status = 'active' ORDER BY created_at",
    )
    .bind(agent)
    .fetch_all(conn)
    .await?)
}
