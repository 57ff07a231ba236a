//! HMAC helpers over aws-lc-rs; verification is constant-time (`hmac::verify`).
use aws_lc_rs::hmac;
use base64::Engine as _;

use crate::{Secret, WebhookError};

pub fn sha256(secret: &Secret, msg: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose());
    hmac::sign(&key, msg).as_ref().to_vec()
}

/// Checks `tag` against HMAC-`alg`(`secret`, `msg`) in constant time.
pub fn verify(
    alg: hmac::Algorithm,
    secret: &Secret,
    msg: &[u8],
    tag: &[u8],
) -> Result<(), WebhookError> {
    let key = hmac::Key::new(alg, secret.expose());
    hmac::verify(&key, msg, tag).map_err(|_| WebhookError::BadSignature)
}

/// Standard base64 (padded); anything else is a bad signature, not an error of ours.
pub fn b64(s: &str) -> Result<Vec<u8>, WebhookError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| WebhookError::BadSignature)
}

pub fn hex(s: &str) -> Result<Vec<u8>, WebhookError> {
    hex::decode(s.trim()).map_err(|_| WebhookError::BadSignature)
}
