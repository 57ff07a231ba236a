//! DocuSign Connect HMAC: `X-DocuSign-Signature-1` (and `-2`… while keys rotate) carry the
//! base64 HMAC-SHA256 of the raw body, keyed with the Connect secret as DocuSign shows it (the
//! base64 text itself is the key; it is not decoded).
use aws_lc_rs::hmac;
use http::HeaderMap;

use super::Verified;
use crate::{Secret, WebhookError, mac};

/// DocuSign allows up to 100 keys per Connect configuration.
const MAX_SIGNATURES: usize = 100;

#[derive(Debug, Clone)]
pub struct DocuSign {
    keys: Vec<Secret>,
}

impl DocuSign {
    /// With every active Connect key (during a rotation, the old and the new).
    pub fn new(keys: Vec<Secret>) -> Result<Self, WebhookError> {
        if keys.is_empty() {
            return Err(WebhookError::Config(
                "DocuSign needs at least one key".into(),
            ));
        }
        Ok(DocuSign { keys })
    }

    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, WebhookError> {
        let signatures: Vec<Vec<u8>> = (1..=MAX_SIGNATURES)
            .map_while(|i| headers.get(format!("x-docusign-signature-{i}")))
            .filter_map(|v| v.to_str().ok().and_then(|s| mac::b64(s).ok()))
            .collect();
        if signatures.is_empty() {
            return Err(WebhookError::MissingHeader("X-DocuSign-Signature-1".into()));
        }
        let ok = signatures.iter().any(|sig| {
            self.keys
                .iter()
                .any(|k| mac::verify(hmac::HMAC_SHA256, k, body, sig).is_ok())
        });
        if !ok {
            return Err(WebhookError::BadSignature);
        }
        Ok(Verified {
            source: "docusign".into(),
            delivery_id: None,
        })
    }
}
