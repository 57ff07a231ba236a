//! Routing: choosing the agent for a client and recording assignments. Automatic choice goes to
//! the least utilised eligible agent (skills, language, presence, auto-assign on), then the one
//! with the fewest assignments in the last day.
//!
//! Capacity holds under concurrency: the chosen agent's row is locked (`FOR UPDATE`) before its
//! active assignments are counted, so two assignments racing for the last slot serialise and
//! the second sees the first.
use kit::{Problem, Timestamp, contracts::events::v1, sqlx::PgConnection, uow::Work};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    activity::Entry,
    people::AgentRef,
    problems, roster,
    rules::{self, AssignmentKind, Role, Urgency},
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
    pub priority: Urgency,
    /// What the assigning party tells the agent (the spec's `context`; a handoff's context).
    pub context: Option<&'a Value>,
    pub reason: Option<&'a str>,
    /// When the stage is expected to be done; a week after the assignment when absent.
    pub expected_completion: Option<Timestamp>,
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
            priority: Urgency::Normal,
            context: None,
            reason: None,
            expected_completion: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Assigned {
    pub assignment_id: Uuid,
    pub client_id: Uuid,
    pub organization_id: Uuid,
    /// The agent, as the spec answers it (`contact_email` its address).
    pub assigned_agent: AssignedAgent,
    pub agent_id: Uuid,
    pub agent_name: String,
    pub role_type: Role,
    pub priority: Urgency,
    pub lifecycle_stage: &'static str,
    pub assignment_type: AssignmentKind,
    pub status: &'static str,
    pub assigned_at: Timestamp,
    pub sla: Sla,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignedAgent {
    #[serde(flatten)]
    pub agent: AgentRef,
    pub contact_email: String,
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
    let expected = r
        .expected_completion
        .unwrap_or(now + rules::EXPECTED_COMPLETION);
    let inserted = insert(w, id, agent, r, now, expected).await?;
    if !inserted {
        return Err(role_taken());
    }
    let event = v1::ClientAssignedToAgent {
        assignment_id: id.to_string(),
        client_id: r.client_id.to_string(),
        agent_id: agent.to_string(),
        role_type: r.role.to_string(),
    };
    w.emit(r.organization_id, r.client_id, &event).await?;
    // The entry records the unit's acting user: who assigned (none for the service's own
    // assignments from events).
    let details = json!({"client_id": r.client_id, "assignment_id": id, "assignment_type": r.kind});
    w.audit(Entry::new(agent, "client_assigned", details).org(r.organization_id))
        .await?;
    let contact_email = email_of(w, agent).await?;
    Ok(Some(Assigned {
        assignment_id: id,
        client_id: r.client_id,
        organization_id: r.organization_id,
        assigned_agent: AssignedAgent {
            agent: AgentRef {
                agent_id: agent,
                full_name: profile.full_name.clone(),
                role_type: r.role.to_string(),
                status: None,
            },
            contact_email,
        },
        agent_id: agent,
        agent_name: profile.full_name,
        role_type: r.role,
        priority: r.priority,
        lifecycle_stage: r.role.stage(),
        assignment_type: r.kind,
        status: "active",
        assigned_at: now,
        sla: Sla {
            first_contact_deadline: now + rules::FIRST_CONTACT,
            expected_completion: expected,
        },
    }))
}

/// Records the assignment; `false` when the client's role is already filled (the unique
/// index decided it).
async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    agent: Uuid,
    r: &Request<'_>,
    now: Timestamp,
    expected: Timestamp,
) -> Result<bool, Problem> {
    let empty = json!({});
    let inserted = sqlx::query(
        "INSERT INTO client_assignments (id, organization_id, client_id, agent_id, role_type, lifecycle_stage, assignment_type, \
         source_event_id, first_response_due_at, priority, context, assignment_reason, expected_completion) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT DO NOTHING",
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
    .bind(r.priority)
    .bind(r.context.unwrap_or(&empty))
    .bind(r.reason)
    .bind(expected)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

async fn email_of(conn: &mut PgConnection, agent: Uuid) -> Result<String, Problem> {
    Ok(
        sqlx::query_scalar("SELECT email FROM agent_profiles WHERE agent_id = $1")
            .bind(agent)
            .fetch_one(conn)
            .await?,
    )
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

/// Who a specialist invitation goes to.
pub struct SpecialistWanted<'a> {
    pub role: Role,
    /// Preferred: the more of these an agent holds, the better it fits.
    pub skills: &'a [String],
    /// The one named, if any.
    pub wanted: Option<Uuid>,
    pub inviter: Uuid,
    /// The online agents from Redis presence; `None` reads presence from the record.
    pub online: Option<&'a [Uuid]>,
}

/// A specialist to invite: the one wanted (active, holding the role), or else the best fit
/// among the online ones other than the inviter with a free slot — the most of the skills
/// wanted, then the least utilised, then the fewest invitations in the last day.
pub async fn specialist(
    conn: &mut PgConnection,
    w: &SpecialistWanted<'_>,
) -> Result<Option<Uuid>, Problem> {
    if let Some(t) = w.wanted {
        let ok = roster::holds_role(conn, t, w.role).await?;
        return Ok(ok.then_some(t));
    }
    Ok(sqlx::query_scalar(
        "SELECT p.agent_id FROM agent_profiles p \
         LEFT JOIN (SELECT agent_id, count(*) AS n FROM client_assignments WHERE status = 'active' GROUP BY agent_id) a \
           ON a.agent_id = p.agent_id \
         LEFT JOIN (SELECT specialist_agent_id, count(*) AS recent FROM specialist_invitations \
                    WHERE invited_at > now() - interval '1 day' GROUP BY specialist_agent_id) i ON i.specialist_agent_id = p.agent_id \
         WHERE p.is_active AND $1 = ANY(p.roles) AND p.agent_id <> $2 \
           AND CASE WHEN $4::uuid[] IS NULL THEN p.status = 'online' ELSE p.agent_id = ANY($4) END \
           AND coalesce(a.n, 0) < p.max_capacity \
         ORDER BY cardinality(ARRAY(SELECT unnest(p.skills) INTERSECT SELECT unnest($3::text[]))) DESC, \
           coalesce(a.n, 0)::float8 / p.max_capacity, coalesce(i.recent, 0), p.agent_id LIMIT 1",
    )
    .bind(w.role)
    .bind(w.inviter)
    .bind(w.skills)
    .bind(w.online)
    .fetch_optional(conn)
    .await?)
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

/// The organisation and role in which `agent` serves the client (in `org`, when given):
/// its oldest active assignment; `None` when it serves none.
pub async fn serving(
    conn: &mut PgConnection,
    org: Option<Uuid>,
    client: Uuid,
    agent: Uuid,
) -> Result<Option<(Uuid, Role)>, Problem> {
    Ok(sqlx::query_as(
        "SELECT organization_id, role_type FROM client_assignments WHERE client_id = $1 AND agent_id = $2 \
         AND ($3::uuid IS NULL OR organization_id = $3) AND status = 'active' ORDER BY created_at LIMIT 1",
    )
    .bind(client)
    .bind(agent)
    .bind(org)
    .fetch_optional(conn)
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
