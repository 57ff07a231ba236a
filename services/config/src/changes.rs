//! The change log as a stream: a process-wide wake-up fed by PostgreSQL's `NOTIFY
//! config_changes` (sent on commit by the change log's trigger, so every replica hears every
//! writer), and per watcher the snapshot and the changes after a revision, read from the log.
use std::{collections::VecDeque, time::Duration};

use config_client::{DocumentLayer, FlagEntry, Snapshot, Update};
use kit::{Db, Problem, sqlx::postgres::PgListener, store::Scope};
use serde_json::Value;
use tokio::sync::watch;

use crate::rows::{Current, current_columns};

/// Wakes the watchers of this process when a change commits.
#[derive(Clone)]
pub struct Hub {
    tx: watch::Sender<u64>,
}

impl Hub {
    /// Starts listening on `db` (one connection, held while the process runs).
    pub fn start(db: &Db) -> Hub {
        let (tx, _) = watch::channel(0u64);
        let hub = Hub { tx };
        let (pool, h) = (db.pool().clone(), hub.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(mut l) = PgListener::connect_with(&pool).await
                    && l.listen("config_changes").await.is_ok()
                {
                    // A (re)connection may have missed notifications: wake everyone once.
                    h.tx.send_modify(|n| *n += 1);
                    while l.recv().await.is_ok() {
                        h.tx.send_modify(|n| *n += 1);
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        hub
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// The watched namespaces (empty: all) and every flag at `revision` or later.
pub async fn snapshot(db: &Db, namespaces: &[String]) -> Result<Snapshot, Problem> {
    // The stream is the service's own work across tenants: a watching service holds every
    // tenant's layers. The revision is read first, so what the snapshot misses is re-sent.
    let mut uow = db.read(Scope::system()).await?;
    let revision: i64 = sqlx::query_scalar("SELECT coalesce(max(revision), 0) FROM changes")
        .fetch_one(&mut *uow)
        .await?;
    let schemas: Vec<(String, Value, i32)> = sqlx::query_as(
        "SELECT namespace, schema, revision FROM schemas WHERE cardinality($1::text[]) = 0 OR namespace = ANY($1)",
    )
    .bind(namespaces)
    .fetch_all(&mut *uow)
    .await?;
    let docs: Vec<Current> = sqlx::query_as(concat!(
        "SELECT ",
        current_columns!(),
        " WHERE cardinality($1::text[]) = 0 OR d.namespace = ANY($1)"
    ))
    .bind(namespaces)
    .fetch_all(&mut *uow)
    .await?;
    let flags: Vec<(String, i32, Value)> =
        sqlx::query_as("SELECT key, version, definition FROM flags")
            .fetch_all(&mut *uow)
            .await?;
    uow.commit().await?;
    Ok(Snapshot {
        revision,
        schema_revisions: schemas.iter().map(|(ns, _, r)| (ns.clone(), *r)).collect(),
        schemas: schemas.into_iter().map(|(ns, s, _)| (ns, s)).collect(),
        documents: docs
            .iter()
            .map(Current::as_layer)
            .collect::<Vec<DocumentLayer>>(),
        flags: flags
            .into_iter()
            .filter_map(|(key, version, d)| {
                Some(FlagEntry {
                    key,
                    version,
                    definition: serde_json::from_value(d).ok()?,
                })
            })
            .collect(),
    })
}

/// The changes after `since` concerning `namespaces` (and every flag), in order, at most 500.
pub async fn after(
    db: &Db,
    since: i64,
    namespaces: &[String],
) -> Result<VecDeque<(i64, Update)>, Problem> {
    let mut uow = db.read(Scope::system()).await?;
    let rows: Vec<(i64, Value)> = sqlx::query_as(
        "SELECT revision, payload FROM changes WHERE revision > $1 \
           AND (cardinality($2::text[]) = 0 OR namespace IS NULL OR namespace = ANY($2)) \
         ORDER BY revision LIMIT 500",
    )
    .bind(since)
    .bind(namespaces)
    .fetch_all(&mut *uow)
    .await?;
    uow.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|(r, p)| Some((r, serde_json::from_value(p).ok()?)))
        .collect())
}
