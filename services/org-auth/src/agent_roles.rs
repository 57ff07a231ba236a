//! Agents' role sets from human-agent, which owns them (`agent_roles_changed` on
//! `agent_events`; org-auth never calls human-agent). The set is kept for the tokens org-auth
//! issues (`role`, `primary_role`, `all_roles`), and applied only when its version is newer
//! than the one held, so a repeated or late event changes nothing. When the set loses a role
//! (a demotion, a deactivation) the agent's refresh tokens are revoked: no token is minted again
//! with a role the agent no longer holds.
use kit::{
    Db, Problem,
    contracts::events::{Envelope, Event, v1},
    events::{Handler, HandlerError},
    revocation::Reason,
    sqlx::PgConnection,
    store::{Scope, Tx},
    uow::Work,
};
use serde_json::json;
use uuid::Uuid;

use crate::{audit::Entry, revocations::Revoking};

/// The consumer `org-auth.agent-roles`.
pub struct AgentRoles(pub Db, pub Revoking);

/// A role set as published, checked: every entry a role name, the primary one among them.
struct Published {
    agent: Uuid,
    primary_role: String,
    roles: Vec<String>,
    is_active: bool,
    version: i64,
}

fn role_name(r: &str) -> bool {
    !r.is_empty() && r.len() <= 64 && r.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

impl Published {
    fn check(e: v1::AgentRolesChanged) -> Result<Self, String> {
        let agent = e
            .agent_id
            .parse()
            .map_err(|_| "agent_id is not a UUID".to_string())?;
        let roles_ok =
            !e.roles.is_empty() && e.roles.len() <= 16 && e.roles.iter().all(|r| role_name(r));
        if !roles_ok || !e.roles.contains(&e.primary_role) {
            return Err("roles must be one to sixteen role names including the primary one".into());
        }
        Ok(Published {
            agent,
            primary_role: e.primary_role,
            roles: e.roles,
            is_active: e.is_active,
            version: e.version,
        })
    }

    /// The roles the agent holds now: none once deactivated.
    fn held(&self) -> &[String] {
        if self.is_active { &self.roles } else { &[] }
    }
}

#[derive(sqlx::FromRow)]
struct Held {
    roles: Vec<String>,
    is_active: bool,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct Login {
    id: Uuid,
    role: String,
}

/// The roles `agent` held before `p`: its last set (locked until the transaction ends, so that
/// the comparison and the write see the same row), else its login's role. `None` when `p` is not
/// newer than what is held.
async fn held_before(
    conn: &mut PgConnection,
    p: &Published,
    login: Option<&Login>,
) -> Result<Option<Vec<String>>, Problem> {
    let held: Option<Held> = sqlx::query_as(
        "SELECT roles, is_active, version FROM agent_roles WHERE agent_id = $1 FOR UPDATE",
    )
    .bind(p.agent)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match held {
        Some(h) if h.version >= p.version => None,
        Some(h) if h.is_active => Some(h.roles),
        Some(_) => Some(Vec::new()),
        None => Some(login.map(|l| vec![l.role.clone()]).unwrap_or_default()),
    })
}

/// Records `p` unless a newer (or the same) version got there first.
async fn store(conn: &mut PgConnection, p: &Published) -> Result<bool, Problem> {
    let written = sqlx::query(
        "INSERT INTO agent_roles (agent_id, primary_role, roles, is_active, version) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (agent_id) DO UPDATE SET primary_role = EXCLUDED.primary_role, roles = EXCLUDED.roles, \
           is_active = EXCLUDED.is_active, version = EXCLUDED.version, updated_at = now() \
         WHERE agent_roles.version < EXCLUDED.version",
    )
    .bind(p.agent)
    .bind(&p.primary_role)
    .bind(&p.roles)
    .bind(p.is_active)
    .bind(p.version)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(written == 1)
}

async fn apply(w: &mut impl Work, revoking: &Revoking, p: &Published) -> Result<(), Problem> {
    let login: Option<Login> = sqlx::query_as(
        "SELECT id, role FROM users WHERE agent_id = $1 AND user_type = 'agent' ORDER BY created_at LIMIT 1",
    )
    .bind(p.agent)
    .fetch_optional(&mut **w)
    .await?;
    let Some(before) = held_before(w, p, login.as_ref()).await? else {
        return Ok(()); // not newer than the set held
    };
    if !store(w, p).await? {
        return Ok(());
    }
    let Some(login) = login else {
        return Ok(()); // kept for the login when it exists
    };
    if p.is_active {
        sqlx::query("UPDATE users SET role = $2, updated_at = now() WHERE id = $1")
            .bind(login.id)
            .bind(&p.primary_role)
            .execute(&mut **w)
            .await?;
    }
    let lost: Vec<&String> = before.iter().filter(|r| !p.held().contains(r)).collect();
    let revoked = if lost.is_empty() {
        0
    } else {
        revoking
            .end_user(w, login.id, None, Reason::RolesReduced)
            .await?
    };
    let meta = json!({"agent_id": p.agent, "roles": p.held(), "lost": lost, "version": p.version,
                      "sessions_revoked": revoked});
    w.audit(Entry::new("agent_roles_updated").user(login.id).meta(meta))
        .await
}

// tonic's re-export of `async_trait`, the macro `Handler` is declared with.
#[kit::tonic::async_trait]
impl Handler for AgentRoles {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.event_type != v1::AgentRolesChanged::EVENT_TYPE {
            return Ok(()); // human-agent's other events are not ours
        }
        let p = Published::check(event.decode()?).map_err(HandlerError::failed)?;
        // Agents' logins, their role sets and refresh tokens are the service's own data, read
        // and written by its own work only; the event is platform-wide (no organisation).
        let mut w = self.0.within(tx, Scope::system()).await?;
        apply(&mut w, &self.1, &p)
            .await
            .map_err(|e| HandlerError::failed(e.detail()))
    }
}
