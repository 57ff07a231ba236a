//! The `jwt` plugin: Kong's checks, in Kong's order, with its RS256 credentials (the issuer
//! consumer's `jwt_secrets`) plus the keys of the fleet's JWKS (which replace the placeholder
//! a deployment replaces in kong.yaml).
use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use kit::auth::{Verifier, VerifyKey};
use serde_json::Value;

use crate::{
    config::{ConfigError, Declarative, JwtConf},
    ttl::TtlMap,
};

pub struct Credential {
    pub consumer: String,
    pub key: Arc<VerifyKey>,
}

pub struct Keys {
    /// kid → credential, from kong.yaml.
    declared: HashMap<String, Credential>,
    /// The fleet's JWKS (org-auth), when configured.
    jwks: Option<(Verifier, String)>,
    /// Tokens whose signature was verified in the last minute: a client's repeated requests
    /// cost a lookup, not an RSA operation. The time claims are still checked on every use.
    verified: TtlMap<Arc<Verified>>,
}

const VERIFIED_TTL: Duration = Duration::from_secs(60);
const VERIFIED_MAX: usize = 10_000;

/// A token the plugin accepted.
#[derive(Debug, Clone)]
pub struct Verified {
    pub token: String,
    pub claims: Value,
    pub consumer: String,
    pub credential: String,
}

impl Keys {
    pub fn new(d: &Declarative, jwks: Option<(Verifier, String)>) -> Result<Keys, ConfigError> {
        let mut declared = HashMap::new();
        for c in &d.consumers {
            for s in &c.jwt_secrets {
                if s.algorithm != "RS256" {
                    return Err(ConfigError(format!(
                        "consumer {}: jwt secret {}: algorithm {} is not implemented (RS256 only)",
                        c.username, s.key, s.algorithm
                    )));
                }
                let pem = s.rsa_public_key.as_deref().ok_or_else(|| {
                    ConfigError(format!(
                        "consumer {}: jwt secret {} has no rsa_public_key",
                        c.username, s.key
                    ))
                })?;
                let key = VerifyKey::from_public_pem(pem).map_err(|e| {
                    ConfigError(format!(
                        "consumer {}: jwt secret {}: {e}",
                        c.username, s.key
                    ))
                })?;
                declared.insert(
                    s.key.clone(),
                    Credential {
                        consumer: c.username.clone(),
                        key: Arc::new(key),
                    },
                );
            }
        }
        Ok(Keys {
            declared,
            jwks,
            verified: TtlMap::new(VERIFIED_MAX),
        })
    }

    async fn find(&self, kid: &str) -> Option<(String, Arc<VerifyKey>)> {
        if let Some(c) = self.declared.get(kid) {
            return Some((c.consumer.clone(), c.key.clone()));
        }
        let (verifier, consumer) = self.jwks.as_ref()?;
        if let Some(k) = verifier.key(kid) {
            return Some((consumer.clone(), k));
        }
        // A key rotated in since the last fetch (the refresh is rate-limited).
        if let Err(e) = verifier.refresh().await {
            tracing::warn!(error = %e, "JWKS refresh failed");
        }
        verifier.key(kid).map(|k| (consumer.clone(), k))
    }

    /// Runs the plugin's checks on the request's headers. `Err` is Kong's message (401).
    pub async fn verify(
        &self,
        conf: &JwtConf,
        headers: &http::HeaderMap,
        now: i64,
    ) -> Result<Arc<Verified>, &'static str> {
        let mut tokens = Vec::new();
        for name in &conf.header_names {
            for v in headers.get_all(name.as_str()) {
                let v = v.to_str().map_err(|_| "Unauthorized")?;
                let t = v
                    .strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
                    .unwrap_or(v)
                    .trim();
                if !t.is_empty() {
                    tokens.push(t.to_string());
                }
            }
        }
        let token = match tokens.len() {
            0 => return Err("Unauthorized"),
            1 => tokens.remove(0),
            _ => return Err("Multiple tokens provided"),
        };
        let v = match self.verified.get(&token) {
            Some(v) => v,
            None => {
                let v = Arc::new(self.verify_signature(conf, token).await?);
                self.verified
                    .insert(v.token.clone(), v.clone(), VERIFIED_TTL);
                v
            }
        };
        check_times(conf, &v.claims, now)?;
        Ok(v)
    }

    /// Kong's checks up to the signature (kid, credential, algorithm, signature).
    async fn verify_signature(
        &self,
        conf: &JwtConf,
        token: String,
    ) -> Result<Verified, &'static str> {
        // A header of many kilobytes is an attack, not a JWT: refused unread, like the services do.
        if token.len() > 16 * 1024 {
            return Err("Bad token; invalid JSON");
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("Bad token; invalid JSON");
        };
        let decode = |x: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(x).ok()?).ok()
        };
        let (Some(header), Some(claims)) = (decode(h), decode(p)) else {
            return Err("Bad token; invalid JSON");
        };
        if !claims.is_object() || !header.is_object() {
            return Err("Bad token; invalid JSON");
        }
        let kid = claims
            .get(&conf.key_claim_name)
            .or_else(|| header.get(&conf.key_claim_name))
            .and_then(Value::as_str)
            .ok_or("No mandatory 'kid' in claims")?
            .to_string();
        let (consumer, key) = self
            .find(&kid)
            .await
            .ok_or("No credentials found for given 'kid'")?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err("Invalid algorithm");
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| "Invalid signature")?;
        let signed = &token[..h.len() + 1 + p.len()];
        if !key.verify_rs256(signed.as_bytes(), &sig) {
            return Err("Invalid signature");
        }
        Ok(Verified {
            token,
            claims,
            consumer,
            credential: kid,
        })
    }
}

/// `claims_to_verify` and `maximum_expiration`, against `now`.
fn check_times(conf: &JwtConf, claims: &Value, now: i64) -> Result<(), &'static str> {
    for c in &conf.claims_to_verify {
        match c.as_str() {
            "exp" => {
                let exp = claims
                    .get("exp")
                    .and_then(Value::as_i64)
                    .ok_or("token expired")?;
                if exp <= now {
                    return Err("token expired");
                }
            }
            "nbf" => {
                let nbf = claims
                    .get("nbf")
                    .and_then(Value::as_i64)
                    .ok_or("token not valid yet")?;
                if nbf > now {
                    return Err("token not valid yet");
                }
            }
            _ => {}
        }
    }
    if conf.maximum_expiration > 0 {
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX);
        if exp.saturating_sub(now) > i64::try_from(conf.maximum_expiration).unwrap_or(i64::MAX) {
            return Err("The exp claim is too far in the future");
        }
    }
    Ok(())
}
