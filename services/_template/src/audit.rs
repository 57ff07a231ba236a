//! The audit trail: one entry per change, written in the change's transaction with the unit of
//! work's actor and origin.
use kit::{Audit, AuditContext, Problem, sqlx::PgConnection};
use uuid::Uuid;

pub(crate) struct Entry {
    pub action: &'static str,
    pub organization_id: Uuid,
    pub note_id: Uuid,
}

impl Audit for Entry {
    async fn write(self, conn: &mut PgConnection, ctx: &AuditContext) -> Result<(), Problem> {
        sqlx::query(
            "INSERT INTO note_audit (id, organization_id, note_id, action, actor_id, ip_address, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(self.organization_id)
        .bind(self.note_id)
        .bind(self.action)
        .bind(ctx.actor.user_id)
        .bind(&ctx.origin.ip)
        .bind(&ctx.origin.user_agent)
        .execute(conn)
        .await?;
        Ok(())
    }
}
