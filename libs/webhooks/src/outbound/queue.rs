//! The delivery queue and log: `webhook_deliveries` in the service's database, under RLS.
use serde::Serialize;
use sqlx::FromRow;
use store::{PgPool, Scope, Tx};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::WebhookError;

/// The largest body a delivery carries.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Attempts before a delivery is given up as failed.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl TryFrom<String> for DeliveryStatus {
    type Error = WebhookError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(WebhookError::Config(format!(
                "unknown delivery status {other:?}"
            ))),
        }
    }
}

/// One delivery as the log shows it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Delivery {
    pub delivery_id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    pub event_type: String,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub last_status_code: Option<i32>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

macro_rules! delivery_columns {
    () => {
        "delivery_id, organization_id, url, event_type, status, attempts, max_attempts, \
         next_attempt_at, last_error, last_status_code, created_at, delivered_at"
    };
}

/// Enqueues a signed delivery of `payload` to `url` inside `tx` (the caller's transaction, so
/// it commits with the change it announces, or not at all). The URL passes `fetch`'s guard now
/// (scheme, credentials, IP literals) and again, after DNS, at every attempt.
pub async fn enqueue(
    tx: &mut Tx,
    fetcher: &fetch::Fetcher,
    org: Uuid,
    url: &str,
    event_type: &str,
    payload: &serde_json::Value,
) -> Result<Uuid, WebhookError> {
    let parsed = fetch::Url::parse(url)
        .map_err(|e| WebhookError::Destination(fetch::FetchError::InvalidUrl(e.to_string())))?;
    fetch::guard::check_url(&parsed, &fetcher.config().allow)?;
    if event_type.is_empty()
        || event_type.len() > 100
        || !event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(WebhookError::BadBody(format!("event type {event_type:?}")));
    }
    let body = serde_json::to_string(payload).map_err(|e| WebhookError::BadBody(e.to_string()))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::BadBody(format!(
            "the body exceeds {MAX_BODY_BYTES} bytes"
        )));
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_deliveries \
           (delivery_id, organization_id, url, event_type, body, max_attempts) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(org)
    .bind(parsed.as_str())
    .bind(event_type)
    .bind(&body)
    .bind(DEFAULT_MAX_ATTEMPTS)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The delivery log of `org`, newest first, optionally of one status, read in `scope` (a
/// client's scope sees its own organisation only: RLS).
pub async fn log(
    pool: &PgPool,
    scope: Scope,
    org: Uuid,
    status: Option<DeliveryStatus>,
    limit: i64,
) -> Result<Vec<Delivery>, WebhookError> {
    let mut tx = store::begin_read(pool, scope).await?;
    let rows = sqlx::query_as::<_, Delivery>(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM webhook_deliveries \
          WHERE organization_id = $1 AND ($2::text IS NULL OR status = $2) \
          ORDER BY created_at DESC, delivery_id DESC LIMIT $3"
    ))
    .bind(org)
    .bind(status.map(DeliveryStatus::as_str))
    .bind(limit.clamp(1, 500))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// One delivery, if `scope` may see it.
pub async fn get(pool: &PgPool, scope: Scope, id: Uuid) -> Result<Option<Delivery>, WebhookError> {
    let mut tx = store::begin_read(pool, scope).await?;
    let row = sqlx::query_as::<_, Delivery>(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM webhook_deliveries WHERE delivery_id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}
