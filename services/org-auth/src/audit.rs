//! The audit log: every security-relevant action, written in the transaction of the action
//! itself (`uow.audit(entry)`), with the unit of work's origin (IP, user agent) and, where the
//! entry says so, its actor.
use kit::{Audit, AuditContext, Problem, sqlx::PgConnection};
use serde_json::Value;
use uuid::Uuid;

/// One audit row of org-auth's `audit_logs`.
pub(crate) struct Entry {
    action: &'static str,
    organization_id: Option<Uuid>,
    user_id: Option<Uuid>,
    with_actor: bool,
    resource: Option<(&'static str, Uuid)>,
    metadata: Value,
}

impl Entry {
    pub fn new(action: &'static str) -> Self {
        Entry {
            action,
            organization_id: None,
            user_id: None,
            with_actor: false,
            resource: None,
            metadata: Value::Object(Default::default()),
        }
    }

    /// The organisation it happened in; by default the unit of work's (none in a system unit).
    pub fn org(mut self, org: Option<Uuid>) -> Self {
        self.organization_id = org;
        self
    }

    /// The user the action is about.
    pub fn user(mut self, user: Uuid) -> Self {
        self.user_id = Some(user);
        self
    }

    /// Records the unit of work's actor as who did it (an admin, an agent acting on someone).
    pub fn by_actor(mut self) -> Self {
        self.with_actor = true;
        self
    }

    pub fn resource(mut self, kind: &'static str, id: Uuid) -> Self {
        self.resource = Some((kind, id));
        self
    }

    pub fn meta(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

impl Audit for Entry {
    async fn write(self, conn: &mut PgConnection, ctx: &AuditContext) -> Result<(), Problem> {
        sqlx::query(
            "INSERT INTO audit_logs (id, organization_id, user_id, actor_id, action, resource_type, \
             resource_id, metadata, ip_address, user_agent) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(Uuid::now_v7())
        .bind(self.organization_id.or(ctx.scope.organization_id))
        .bind(self.user_id)
        // A delegated token's entries name who really acted (`act`), whatever the entry says.
        .bind(match ctx.actor.act {
            Some(act) => Some(act),
            None if self.with_actor => ctx.actor.user_id,
            None => None,
        })
        .bind(self.action)
        .bind(self.resource.map(|(kind, _)| kind))
        .bind(self.resource.map(|(_, id)| id))
        .bind(self.metadata)
        .bind(&ctx.origin.ip)
        .bind(&ctx.origin.user_agent)
        .execute(conn)
        .await?;
        Ok(())
    }
}
