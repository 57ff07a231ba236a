//! The periodic job applying due schedules. Each is claimed in its own transaction with
//! `FOR UPDATE SKIP LOCKED` (two replicas never apply one twice; a cancellation in progress
//! holds the row, and the job passes it by), checked again against the namespace's schema as
//! it is now, and written as a new version through the path of every write (versions, change
//! log for the Watch stream, `config_changed` through the outbox, audit) with the message
//! "scheduled change <id>". A layer at another version than the one the change was scheduled
//! over (written in the meantime), or a value that no longer conforms, leaves the schedule
//! `failed` with the reason, audited, nothing written.
use kit::{Actor, Db, Problem, Uow};
use uuid::Uuid;

use super::{Schedule, audit, columns};
use crate::{
    rows::{self, NewVersion},
    slot::Slot,
};

/// At most this many schedules per run; the rest are applied on the next.
const BATCH: usize = 100;

/// One run: every due schedule, oldest first. A schedule whose write fails for another reason
/// than its value (the database) is left pending, logged, and retried on the next run.
pub(crate) async fn run(db: Db) -> anyhow::Result<()> {
    let mut tried: Vec<Uuid> = Vec::new();
    let mut errors = 0usize;
    while tried.len() < BATCH {
        let mut uow = db.system().await?;
        let Some(due) = claim(&mut uow, &tried).await? else {
            break;
        };
        let id = due.schedule_id;
        tried.push(id);
        if let Err(e) = settle(uow, due).await {
            errors += 1;
            tracing::warn!(schedule_id = %id, error = %e, "a scheduled change could not be applied; it is retried on the next run");
        }
    }
    anyhow::ensure!(errors == 0, "{errors} scheduled changes were not applied");
    Ok(())
}

/// The oldest due schedule no other transaction holds, locked, skipping those tried already.
async fn claim(uow: &mut Uow, tried: &[Uuid]) -> Result<Option<Schedule>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM schedules \
         WHERE status = 'pending' AND apply_at <= now() AND id <> ALL($1) \
         ORDER BY apply_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(tried)
    .fetch_optional(&mut **uow)
    .await?)
}

/// Applies `due` or records why it cannot be, and commits.
async fn settle(uow: Uow, due: Schedule) -> Result<(), Problem> {
    // The change is the scheduler's: its author, and the actor of its audit entries.
    let mut uow = uow.by_actor(Actor {
        user_id: Some(due.created_by),
        ..Actor::default()
    });
    let slot = due.slot();
    // The layer is locked before its version is compared: a direct write of it waits until
    // this change is written or refused, so the version compared is the one written over.
    let at = rows::locked(&mut uow, &due.namespace, &due.key, &slot)
        .await?
        .map_or(0, |(_, v)| v);
    if at != due.base_version {
        let reason = format!(
            "conflict: the layer is at version {at}, the change was scheduled over version {}; nothing was written",
            due.base_version
        );
        failed(&mut uow, &due, &reason).await?;
        return uow.commit().await;
    }
    match rows::check(&mut uow, &due.namespace, &due.key, &slot, &due.value).await {
        Ok(()) => applied(&mut uow, &due, &slot).await?,
        Err(p) if p.status().is_client_error() => failed(&mut uow, &due, p.detail()).await?,
        Err(p) => return Err(p),
    }
    uow.commit().await
}

async fn applied(uow: &mut Uow, due: &Schedule, slot: &Slot) -> Result<(), Problem> {
    let id = due.schedule_id;
    let message = match &due.message {
        Some(m) => format!("scheduled change {id}: {m}"),
        None => format!("scheduled change {id}"),
    };
    let doc = rows::write(
        uow,
        NewVersion {
            namespace: &due.namespace,
            key: &due.key,
            slot,
            value: due.value.clone(),
            format: if due.format == "yaml" { "yaml" } else { "json" },
            message: Some(message),
            restored_from: None,
            author: Some(due.created_by),
        },
    )
    .await?;
    sqlx::query(
        "UPDATE schedules SET status = 'applied', version_id = $2, settled_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(doc.version_id)
    .execute(&mut **uow)
    .await?;
    Ok(())
}

async fn failed(uow: &mut Uow, due: &Schedule, reason: &str) -> Result<(), Problem> {
    sqlx::query(
        "UPDATE schedules SET status = 'failed', reason = $2, settled_at = now() WHERE id = $1",
    )
    .bind(due.schedule_id)
    .bind(reason)
    .execute(&mut **uow)
    .await?;
    audit(uow, "config_schedule_failed", due).await
}
