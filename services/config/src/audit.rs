//! The audit trail: one entry per change, written in the change's transaction.
use kit::{Audit, AuditContext, Problem, sqlx::PgConnection};
use uuid::Uuid;

pub(crate) struct Entry {
    pub action: &'static str,
    /// `None` for the platform's layers, schemas and flags.
    pub organization_id: Option<Uuid>,
    /// What changed: `namespace/key@layer[:scope]`, `schema:namespace`, `flag:key`.
    pub subject: String,
    pub version: Option<i32>,
}

impl Audit for Entry {
    async fn write(self, conn: &mut PgConnection, ctx: &AuditContext) -> Result<(), Problem> {
        sqlx::query(
            "INSERT INTO config_audit (id, organization_id, action, subject, version, actor_id, ip_address, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::now_v7())
        .bind(self.organization_id)
        .bind(self.action)
        .bind(&self.subject)
        .bind(self.version)
        .bind(ctx.actor.user_id)
        .bind(&ctx.origin.ip)
        .bind(&ctx.origin.user_agent)
        .execute(conn)
        .await?;
        Ok(())
    }
}
