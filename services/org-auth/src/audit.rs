//! The audit log: every security-relevant action, with actor, IP, user agent, time and
//! metadata, written in the transaction of the action itself.
use kit::{ClientIp, Problem, UserAgent, store::Tx};
use serde_json::Value;
use uuid::Uuid;

/// Where a request came from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: String,
    pub user_agent: Option<String>,
}

impl Origin {
    pub fn new(ip: ClientIp, ua: UserAgent) -> Self {
        Origin {
            ip: ip.0,
            user_agent: ua.0,
        }
    }
}

pub struct Entry<'a> {
    pub action: &'a str,
    pub organization_id: Option<Uuid>,
    /// The user the action is about.
    pub user_id: Option<Uuid>,
    /// Who did it, when not the user itself (an admin, an agent).
    pub actor_id: Option<Uuid>,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<Uuid>,
    pub metadata: Value,
}

impl<'a> Entry<'a> {
    pub fn new(action: &'a str) -> Self {
        Entry {
            action,
            organization_id: None,
            user_id: None,
            actor_id: None,
            resource_type: None,
            resource_id: None,
            metadata: Value::Object(Default::default()),
        }
    }
    pub fn org(mut self, org: Option<Uuid>) -> Self {
        self.organization_id = org;
        self
    }
    pub fn user(mut self, user: Uuid) -> Self {
        self.user_id = Some(user);
        self
    }
    pub fn actor(mut self, actor: Uuid) -> Self {
        self.actor_id = Some(actor);
        self
    }
    pub fn resource(mut self, kind: &'a str, id: Uuid) -> Self {
        self.resource_type = Some(kind);
        self.resource_id = Some(id);
        self
    }
    pub fn meta(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

pub async fn record(tx: &mut Tx, origin: &Origin, e: Entry<'_>) -> Result<(), Problem> {
    sqlx::query(
        "INSERT INTO audit_logs (id, organization_id, user_id, actor_id, action, resource_type, \
         resource_id, metadata, ip_address, user_agent) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(Uuid::now_v7())
    .bind(e.organization_id)
    .bind(e.user_id)
    .bind(e.actor_id)
    .bind(e.action)
    .bind(e.resource_type)
    .bind(e.resource_id)
    .bind(e.metadata)
    .bind(&origin.ip)
    .bind(&origin.user_agent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
