//! Retention: entries older than the retention period (`ORG_AUTH_AUDIT_RETENTION_DAYS`, a year
//! by default) are deleted by a periodic job, which records what it deleted as an entry of its
//! own (`audit_logs_purged`) in the same transaction.
use kit::{Db, Origin, Problem};
use serde_json::json;

use crate::audit::Entry;

/// The most one run deletes: a long backlog is worked off run by run, each transaction short.
const PER_RUN: i64 = 20_000;

/// Deletes the entries older than `days` (at most [`PER_RUN`]); how many went.
pub(crate) async fn purge(db: &Db, days: u32) -> Result<u64, Problem> {
    let mut uow = db.system().await?.from(&Origin::system());
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    // SKIP LOCKED: two replicas running the job at once split the work instead of waiting on
    // each other's rows.
    let deleted = sqlx::query(
        "DELETE FROM audit_logs WHERE id IN (SELECT id FROM audit_logs \
           WHERE \"timestamp\" < now() - make_interval(days => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(days)
    .bind(PER_RUN)
    .execute(&mut *uow)
    .await?
    .rows_affected();
    if deleted > 0 {
        let meta = json!({"deleted": deleted, "retention_days": days,
                          "more_remaining": deleted == PER_RUN as u64});
        uow.audit(Entry::new("audit_logs_purged").meta(meta))
            .await?;
    }
    uow.commit().await?;
    Ok(deleted)
}
