//! The platform's outbound signature, which receivers verify:
//!
//! - `X-Webhook-Id`: the delivery id (the same on every retry: receivers de-duplicate by it);
//! - `X-Webhook-Event`: the event type;
//! - `X-Webhook-Timestamp`: Unix seconds when this attempt was signed;
//! - `X-Webhook-Signature`: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under the
//!   shared secret. Receivers refuse timestamps more than five minutes from their clock.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use http::{HeaderMap, HeaderValue};

use crate::{Secret, WebhookError, inbound::Verified, mac};

pub const ID_HEADER: &str = "x-webhook-id";
pub const EVENT_HEADER: &str = "x-webhook-event";
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// Signs outbound deliveries with the service's webhook secret.
#[derive(Debug, Clone)]
pub struct Signer {
    secret: Secret,
}

impl Signer {
    pub fn new(secret: Secret) -> Self {
        Signer { secret }
    }

    /// The service's signing secret, `<prefix>_WEBHOOK_SIGNING_SECRET` (or its `_FILE`), e.g.
    /// `NDA_WEBHOOK_SIGNING_SECRET`; missing outside development is a start-up error.
    pub fn load(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
        development: bool,
    ) -> Result<Self, WebhookError> {
        let name = format!("{prefix}_WEBHOOK_SIGNING_SECRET");
        Secret::load(&name, lookup, development).map(Signer::new)
    }

    /// The signature value for `body` sent at `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut msg = format!("{timestamp}.").into_bytes();
        msg.extend_from_slice(body);
        format!("v1={}", hex::encode(mac::sha256(&self.secret, &msg)))
    }

    /// The headers of one attempt.
    pub fn headers(
        &self,
        delivery_id: uuid::Uuid,
        event_type: &str,
        body: &[u8],
    ) -> Result<HeaderMap, WebhookError> {
        let ts = now_secs();
        let mut h = HeaderMap::new();
        let value = |s: String| {
            HeaderValue::from_str(&s)
                .map_err(|_| WebhookError::BadBody(format!("header value {s:?}")))
        };
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(ID_HEADER, value(delivery_id.to_string())?);
        h.insert(EVENT_HEADER, value(event_type.to_string())?);
        h.insert(TIMESTAMP_HEADER, value(ts.to_string())?);
        h.insert(SIGNATURE_HEADER, value(self.sign(ts, body))?);
        Ok(h)
    }
}

/// A receiver's check of the platform's signature (constant time), with `tolerance` for clock
/// difference; returns the delivery id for replay protection.
pub fn verify(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    tolerance: Duration,
) -> Result<Verified, WebhookError> {
    let get = |name: &str| crate::inbound::header(headers, name);
    let ts_text = get(TIMESTAMP_HEADER)?;
    let ts: i64 = ts_text.parse().map_err(|_| WebhookError::BadSignature)?;
    let age = now_secs() - ts;
    let tol = tolerance.as_secs() as i64;
    if age.abs() > tol {
        return Err(WebhookError::Stale {
            age_secs: age,
            tolerance_secs: tol,
        });
    }
    let sig = get(SIGNATURE_HEADER)?;
    let tag = mac::hex(sig.strip_prefix("v1=").ok_or(WebhookError::BadSignature)?)?;
    let mut msg = format!("{ts_text}.").into_bytes();
    msg.extend_from_slice(body);
    mac::verify(hmac::HMAC_SHA256, secret, &msg, &tag)?;
    Ok(Verified {
        source: "fleet".into(),
        delivery_id: Some(get(ID_HEADER)?.to_string()),
    })
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
