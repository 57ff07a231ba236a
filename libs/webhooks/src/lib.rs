//! Inbound webhook signature checks and signed outbound deliveries.
//!
//! Inbound ([`inbound`]): each provider's format verified over the raw body in constant time —
//! the platform specification's `X-Webhook-Source` + `X-Signature`, DocuSign Connect, Adobe
//! Sign, Twilio and HubSpot v3 — and replay protection by delivery id ([`replay`]). Secrets come
//! from the environment or files ([`Secret`]); outside development a missing one is a start-up
//! error, never a check turned off.
//!
//! Outbound ([`outbound`]): a delivery is enqueued in the caller's transaction (the
//! `webhook_deliveries` table every service database has, under RLS), signed (HMAC-SHA256 over
//! timestamp and body) and sent by [`outbound::Deliverer`] through `fetch`'s SSRF guard, with
//! exponential backoff up to a cap; the table is the delivery log. ARCHITECTURE §10.
use problem::Problem;

pub mod inbound;
mod mac;
pub mod outbound;
pub mod replay;
mod secret;

pub use secret::Secret;

/// Why a webhook was refused or could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the secret {name} is not configured")]
    MissingSecret { name: String },
    #[error("the {0} header is missing")]
    MissingHeader(String),
    #[error("the signature does not match")]
    BadSignature,
    #[error("unknown webhook source {0:?}")]
    UnknownSource(String),
    #[error("the request timestamp is {age_secs} s away from now (tolerance {tolerance_secs} s)")]
    Stale { age_secs: i64, tolerance_secs: i64 },
    #[error("delivery {id} was already received")]
    Replayed { id: String },
    #[error("invalid webhook body: {0}")]
    BadBody(String),
    #[error("invalid webhook destination: {0}")]
    Destination(#[from] fetch::FetchError),
    #[error("webhook configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("replay store: {0}")]
    Cache(#[from] cache::CacheError),
}

impl From<WebhookError> for Problem {
    fn from(e: WebhookError) -> Self {
        use http::StatusCode as S;
        match e {
            WebhookError::MissingHeader(_)
            | WebhookError::BadSignature
            | WebhookError::UnknownSource(_)
            | WebhookError::Stale { .. } => {
                Problem::new(S::UNAUTHORIZED, "webhook-signature-invalid", e.to_string())
            }
            WebhookError::Replayed { .. } => {
                Problem::new(S::CONFLICT, "webhook-replayed", e.to_string())
            }
            WebhookError::BadBody(_) => Problem::bad_request(e.to_string()),
            WebhookError::Destination(f) => Problem::invalid("url", f.to_string()),
            WebhookError::Cache(c) => c.into(),
            WebhookError::Store(s) => s.into(),
            WebhookError::Database(d) => d.into(),
            other => Problem::internal(other),
        }
    }
}
