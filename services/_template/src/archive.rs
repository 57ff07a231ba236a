//! A periodic job: done notes are archived after a while. The kit runs it (`Job::every`),
//! jittered, stopped on shutdown, its runs and failures counted in `/metrics`.
use std::time::Duration;

use kit::Db;

pub(crate) async fn run(db: Db, after: Duration) -> anyhow::Result<()> {
    // The service's own work across tenants: a system unit of work.
    let mut uow = db.system().await?;
    let archived = sqlx::query(
        "UPDATE notes SET status = 'archived', updated_at = now() \
         WHERE status = 'done' AND updated_at < now() - make_interval(secs => $1)",
    )
    .bind(after.as_secs_f64())
    .execute(&mut *uow)
    .await?
    .rows_affected();
    uow.commit().await?;
    if archived > 0 {
        tracing::info!(archived, "archived done notes");
    }
    Ok(())
}
