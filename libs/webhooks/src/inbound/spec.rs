//! The platform specification's format (NDA's `signature-complete` webhook, tenant
//! provisioning): `X-Webhook-Source` names the sender, `X-Signature` carries the HMAC-SHA256 of
//! the raw body under that sender's secret, in hex (an optional `sha256=` prefix is accepted).
//! The format has no timestamp: replays are refused by delivery id ([`crate::replay`]).
use aws_lc_rs::hmac;
use http::HeaderMap;

use super::{Verified, header};
use crate::{Secret, WebhookError, mac};

pub const SOURCE_HEADER: &str = "X-Webhook-Source";
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// Secrets by source name (compared case-insensitively).
#[derive(Debug, Clone)]
pub struct SpecFormat {
    secrets: Vec<(String, Secret)>,
}

impl SpecFormat {
    pub fn new(secrets: impl IntoIterator<Item = (String, Secret)>) -> Self {
        SpecFormat {
            secrets: secrets
                .into_iter()
                .map(|(s, k)| (s.to_ascii_lowercase(), k))
                .collect(),
        }
    }

    /// One secret per source, each from `<prefix>_<SOURCE>` (or its `_FILE`), e.g.
    /// `NDA_WEBHOOK_SECRET_ADOBESIGN`. A missing one outside development is an error.
    pub fn from_lookup(
        prefix: &str,
        sources: &[&str],
        lookup: impl Fn(&str) -> Option<String>,
        development: bool,
    ) -> Result<Self, WebhookError> {
        let mut secrets = Vec::new();
        for source in sources {
            let var = format!(
                "{prefix}_{}",
                source
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_ascii_uppercase()
            );
            secrets.push((
                source.to_string(),
                Secret::load(&var, &lookup, development)?,
            ));
        }
        Ok(Self::new(secrets))
    }

    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, WebhookError> {
        let source = header(headers, SOURCE_HEADER)?;
        let signature = header(headers, SIGNATURE_HEADER)?;
        let wanted = source.to_ascii_lowercase();
        let secret = self
            .secrets
            .iter()
            .find(|(s, _)| *s == wanted)
            .map(|(_, k)| k)
            .ok_or_else(|| WebhookError::UnknownSource(source.chars().take(64).collect()))?;
        let hex_sig = signature.strip_prefix("sha256=").unwrap_or(signature);
        mac::verify(hmac::HMAC_SHA256, secret, body, &mac::hex(hex_sig)?)?;
        Ok(Verified {
            source: wanted,
            delivery_id: None,
        })
    }
}
