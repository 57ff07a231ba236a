//! Twilio: `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed with the account's auth token,
//! of the full URL Twilio requested followed by every POST parameter sorted by name (then
//! value), each as name then value with no separators. A JSON body is signed instead by a
//! `bodySHA256` query parameter (hex SHA-256 of the body) inside the signed URL. Twilio's
//! helper libraries also accept the URL with its default port added or removed; so does this.
use aws_lc_rs::{digest, hmac};
use http::HeaderMap;

use super::{Verified, header};
use crate::{Secret, WebhookError, mac};

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";

#[derive(Debug, Clone)]
pub struct Twilio {
    auth_token: Secret,
}

impl Twilio {
    pub fn new(auth_token: Secret) -> Self {
        Twilio { auth_token }
    }

    /// `url` is the public URL Twilio called (scheme, host, path and query as configured in
    /// Twilio), not the one a proxy forwarded.
    pub fn verify(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, WebhookError> {
        let sig = mac::b64(header(headers, SIGNATURE_HEADER)?)?;
        let parsed =
            fetch::Url::parse(url).map_err(|e| WebhookError::BadBody(format!("url: {e}")))?;
        let body_hash = parsed
            .query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned());
        let params = match &body_hash {
            Some(expected) => {
                let actual = hex::encode(digest::digest(&digest::SHA256, body));
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    actual.as_bytes(),
                    expected.to_ascii_lowercase().as_bytes(),
                )
                .map_err(|_| WebhookError::BadSignature)?;
                String::new()
            }
            None => sorted_params(body),
        };
        let ok = url_variants(url, &parsed).iter().any(|u| {
            let signed = format!("{u}{params}");
            mac::verify(
                hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                &self.auth_token,
                signed.as_bytes(),
                &sig,
            )
            .is_ok()
        });
        if !ok {
            return Err(WebhookError::BadSignature);
        }
        Ok(Verified {
            source: "twilio".into(),
            delivery_id: headers
                .get(IDEMPOTENCY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    }
}

/// The form parameters, decoded, sorted by name then value, de-duplicated, concatenated.
fn sorted_params(body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    // Twilio signs a repeated name=value pair once (its helper libraries de-duplicate).
    pairs.dedup();
    pairs.into_iter().map(|(k, v)| k + &v).collect()
}

/// The URL as given, without its port, and with its scheme's default port (Twilio's helper
/// libraries accept each, since proxies add and drop ports).
fn url_variants(raw: &str, parsed: &fetch::Url) -> Vec<String> {
    let mut out = vec![raw.to_string()];
    let mut bare = parsed.clone();
    if bare.set_port(None).is_ok() {
        out.push(bare.as_str().to_string());
    }
    if let (Some(host), Some(port)) = (bare.host_str(), bare.port_or_known_default()) {
        let query = bare.query().map(|q| format!("?{q}")).unwrap_or_default();
        let user = match (bare.username(), bare.password()) {
            ("", _) => String::new(),
            (u, Some(p)) => format!("{u}:{p}@"),
            (u, None) => format!("{u}@"),
        };
        out.push(format!(
            "{}://{user}{host}:{port}{}{query}",
            bare.scheme(),
            bare.path()
        ));
    }
    out.dedup();
    out
}
