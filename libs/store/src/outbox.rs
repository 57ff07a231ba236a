//! The outbox writer: an event is stored in the same transaction as the state change it
//! describes; the relay (in `events`) publishes it after commit.
use contracts::events::{Envelope, Event};
use opentelemetry::trace::TraceContextExt;
use time::format_description::well_known::Rfc3339;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::{StoreError, Tx};

/// The W3C `traceparent` of the current span, if tracing is exporting.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// Builds the envelope of `event` published by `source` about `subject` in `org`.
pub fn envelope<E: Event>(
    source: &str,
    org: Uuid,
    subject: impl ToString,
    event: &E,
) -> Result<Envelope, StoreError> {
    Ok(Envelope {
        event_id: Uuid::now_v7().to_string(),
        event_type: E::EVENT_TYPE.to_string(),
        source: source.to_string(),
        occurred_at: time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        organization_id: org.to_string(),
        subject_id: subject.to_string(),
        trace_parent: current_traceparent().unwrap_or_default(),
        data: serde_json::to_value(event)?,
    })
}

/// Writes `event` to the outbox inside `tx`; returns its event id.
pub async fn publish<E: Event>(
    tx: &mut Tx,
    source: &str,
    org: Uuid,
    subject: impl ToString,
    event: &E,
) -> Result<Uuid, StoreError> {
    let env = envelope(source, org, subject, event)?;
    write(tx, E::TOPIC, &env).await
}

/// Writes a ready envelope to `topic`'s outbox; the Kafka key is its organisation id.
pub async fn write(tx: &mut Tx, topic: &str, env: &Envelope) -> Result<Uuid, StoreError> {
    let event_id: Uuid = env
        .event_id
        .parse()
        .map_err(|_| StoreError::Config(format!("event id {:?} is not a UUID", env.event_id)))?;
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, msg_key, event_type, payload, trace_parent) \
         VALUES ($1, $2, $3, $4, $5, nullif($6, ''))",
    )
    .bind(event_id)
    .bind(topic)
    .bind(&env.organization_id)
    .bind(&env.event_type)
    .bind(serde_json::to_value(env)?)
    .bind(&env.trace_parent)
    .execute(&mut **tx)
    .await?;
    Ok(event_id)
}
