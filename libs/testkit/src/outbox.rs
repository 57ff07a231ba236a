//! What a service wrote to its transactional outbox (the `outbox` table of every service
//! database), read as the owner so RLS does not hide rows.
use kit::{contracts::events::Envelope, sqlx};

use crate::TestDb;

/// The `event_type` of every outbox row, oldest first.
pub async fn outbox_types(db: &TestDb) -> anyhow::Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT event_type FROM outbox ORDER BY id")
            .fetch_all(&db.owner)
            .await?,
    )
}

/// The envelopes of every outbox row of `event_type`, oldest first.
pub async fn outbox_events(db: &TestDb, event_type: &str) -> anyhow::Result<Vec<Envelope>> {
    let rows: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id")
            .bind(event_type)
            .fetch_all(&db.owner)
            .await?;
    rows.into_iter()
        .map(|p| {
            serde_json::from_value(p.clone())
                .map_err(|e| anyhow::anyhow!("an outbox row is not an envelope ({e}): {p}"))
        })
        .collect()
}

async fn events_or_panic(db: &TestDb, event_type: &str) -> Vec<Envelope> {
    outbox_events(db, event_type)
        .await
        .unwrap_or_else(|e| panic!("reading the outbox: {e:#}"))
}

async fn types_or_panic(db: &TestDb) -> Vec<String> {
    outbox_types(db)
        .await
        .unwrap_or_else(|e| panic!("reading the outbox: {e:#}"))
}

/// The outbox holds at least one `event_type`: their envelopes, oldest first. Panics naming the
/// types it does hold.
pub async fn assert_outbox(db: &TestDb, event_type: &str) -> Vec<Envelope> {
    let events = events_or_panic(db, event_type).await;
    if events.is_empty() {
        panic!(
            "the outbox holds no {event_type}; it holds {:?}",
            types_or_panic(db).await
        );
    }
    events
}

/// The outbox holds exactly `n` of `event_type`.
pub async fn assert_outbox_count(db: &TestDb, event_type: &str, n: usize) -> Vec<Envelope> {
    let events = events_or_panic(db, event_type).await;
    if events.len() != n {
        panic!(
            "the outbox holds {} {event_type}, not {n}: {:?}",
            events.len(),
            events.iter().map(|e| &e.subject_id).collect::<Vec<_>>()
        );
    }
    events
}

/// The outbox holds exactly one `event_type` whose `subject_id` is `subject`: its envelope.
pub async fn assert_outbox_once(db: &TestDb, event_type: &str, subject: &str) -> Envelope {
    let mut events: Vec<Envelope> = events_or_panic(db, event_type)
        .await
        .into_iter()
        .filter(|e| e.subject_id == subject)
        .collect();
    match events.len() {
        1 => events.remove(0),
        n => panic!(
            "the outbox holds {n} {event_type} for subject {subject}, not one; it holds {:?}",
            types_or_panic(db).await
        ),
    }
}
