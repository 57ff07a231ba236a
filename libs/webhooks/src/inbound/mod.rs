//! Inbound verification, one module per format. Every check runs over the raw body as received
//! (before any parsing) and compares in constant time.
use http::HeaderMap;

use crate::WebhookError;

mod adobe;
mod docusign;
mod hubspot;
mod spec;
mod twilio;

pub use adobe::AdobeSign;
pub use docusign::DocuSign;
pub use hubspot::HubSpot;
pub use spec::SpecFormat;
pub use twilio::Twilio;

/// A request that passed its signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who sent it (`docusign`, `twilio`, or the `X-Webhook-Source` named).
    pub source: String,
    /// The delivery id, where the format carries one in a header (e.g. Twilio's
    /// `I-Twilio-Idempotency-Token`); otherwise the caller takes it from the body.
    pub delivery_id: Option<String>,
}

/// The value of header `name`, or the typed error naming it.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, WebhookError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WebhookError::MissingHeader(name.to_string()))
}
