use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use problem::Problem;
use serde::Deserialize;

use crate::{Claims, Revoked};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("token has no key id")]
    NoKid,
    #[error("token key id is unknown")]
    UnknownKid,
    #[error("token is invalid: {0}")]
    Invalid(String),
    #[error("token has been revoked")]
    Revoked,
    #[error("key: {0}")]
    Key(String),
    #[error("fetching JWKS: {0}")]
    Jwks(String),
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Key(_) => Problem::internal(e),
            AuthError::Jwks(_) => {
                tracing::warn!(error = %e, "JWKS unavailable");
                Problem::unavailable("token keys are unavailable; retry shortly")
            }
            // The reason is safe to tell (it names no secret) and helps client developers.
            other => Problem::unauthorized(other.to_string()),
        }
    }
}

/// Where the verifier finds public keys.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A fixed key set (tests; deployments that mount the JWKS).
    Static(JwkSet),
    /// org-auth's `/.well-known/jwks.json`, cached; refetched when a token names an unknown
    /// `kid` (rotation), at most once per `min_refresh`.
    Remote { url: String, min_refresh: Duration },
}

#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    pub source: JwksSource,
}

/// A public key parsed once, verified against many times.
pub struct VerifyKey(ParsedPublicKey);

impl VerifyKey {
    /// An RSA public key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo, what Kong's jwt
    /// credentials hold) or `RSA PUBLIC KEY` (PKCS#1).
    pub fn from_public_pem(pem: &str) -> Result<Self, AuthError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| AuthError::Key(format!("PEM: {e}")))?;
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der)
            .map_err(|e| AuthError::Key(format!("RSA public key: {e}")))?;
        Ok(VerifyKey(parsed))
    }

    /// The bare RS256 signature check (PKCS#1 v1.5, SHA-256) of `message` against `signature`.
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.0.verify_sig(message, signature).is_ok()
    }
}

/// Verified tokens kept briefly so a client's repeated requests with one token cost a lookup,
/// not an RSA operation. Entries live at most this long (and never past the token's expiry),
/// and the whole cache is dropped whenever the key set changes.
const TOKEN_CACHE_TTL: i64 = 60;
const TOKEN_CACHE_MAX: usize = 4096;

struct Inner {
    keys: RwLock<HashMap<String, Arc<VerifyKey>>>,
    verified: std::sync::Mutex<HashMap<String, (Claims, i64)>>,
    cfg: VerifierConfig,
    source: JwksSource,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
    revoked: Revoked,
}

/// Verifies access tokens: RS256 only, a known `kid`, signature, `exp`/`nbf` (with leeway),
/// issuer and audience.
#[derive(Clone)]
pub struct Verifier(Arc<Inner>);

impl Verifier {
    pub fn new(cfg: VerifierConfig) -> Result<Self, AuthError> {
        let keys = match &cfg.source {
            JwksSource::Static(set) => decode_set(set)?,
            JwksSource::Remote { .. } => HashMap::new(),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::Jwks(e.to_string()))?;
        Ok(Verifier(Arc::new(Inner {
            keys: RwLock::new(keys),
            verified: std::sync::Mutex::new(HashMap::new()),
            source: cfg.source.clone(),
            cfg,
            last_fetch: tokio::sync::Mutex::new(None),
            http,
            revoked: Revoked::default(),
        })))
    }

    /// The parsed key of `kid`, if known (benchmarks compare against its bare check).
    pub fn key(&self, kid: &str) -> Option<Arc<VerifyKey>> {
        self.0
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            .cloned()
    }

    /// Verifies with the keys already known (no I/O), answering a token verified within the
    /// last minute from the cache. The hot path.
    pub fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = match self.cached(token) {
            Some(c) => c,
            None => {
                let claims = self.verify_full(token)?;
                self.remember(token, &claims);
                claims
            }
        };
        // Checked on every use, cached or not: a revocation takes effect at once.
        if self.0.revoked.covers(&claims) {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// The revocations this verifier refuses tokens by (fed by the runtime).
    pub fn revoked(&self) -> &Revoked {
        &self.0.revoked
    }

    /// The full verification (parse, RS256 signature, claims), with no token cache.
    pub fn verify_full(&self, token: &str) -> Result<Claims, AuthError> {
        let parts = split(token)?;
        let key = self.key(&parts.kid).ok_or(AuthError::UnknownKid)?;
        self.check(&parts, &key)
    }

    /// Verifies, fetching the JWKS first when the token's `kid` is not known yet.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        match self.verify_now(token) {
            Err(AuthError::UnknownKid) => {}
            other => return other,
        }
        self.refresh().await?;
        self.verify_now(token)
    }

    fn cached(&self, token: &str) -> Option<Claims> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let cache = self.0.verified.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(token)
            .filter(|(_, until)| *until > now)
            .map(|(c, _)| c.clone())
    }

    fn remember(&self, token: &str, claims: &Claims) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let until = (now + TOKEN_CACHE_TTL).min(claims.exp);
        let mut cache = self.0.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= TOKEN_CACHE_MAX {
            cache.retain(|_, (_, u)| *u > now);
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(token.to_string(), (claims.clone(), until));
    }

    /// Fetches the remote JWKS (rate-limited), replacing the cached keys.
    pub async fn refresh(&self) -> Result<(), AuthError> {
        let JwksSource::Remote { url, min_refresh } = &self.0.source else {
            return Ok(());
        };
        let mut last = self.0.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < *min_refresh) {
            // An unknown kid must not let callers hammer org-auth: one fetch per interval.
            return Ok(());
        }
        *last = Some(Instant::now());
        let set: JwkSet = self
            .0
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::Jwks(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::Jwks(e.to_string()))?;
        let keys = decode_set(&set)?;
        *self.0.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        // A key may have been withdrawn: nothing verified with the old set stays trusted.
        self.0
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(())
    }

    /// Signature, then claims: registered times (with leeway), issuer, audience.
    fn check(&self, parts: &Parts<'_>, key: &VerifyKey) -> Result<Claims, AuthError> {
        if !key.verify_rs256(parts.signed.as_bytes(), &parts.signature) {
            return Err(AuthError::Invalid("bad signature".into()));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(parts.payload)
            .map_err(|_| AuthError::Invalid("malformed claims".into()))?;
        // Every registered claim the platform relies on is a required field of `Claims`: a
        // token without one does not parse.
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|_| AuthError::Invalid("malformed claims".into()))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let leeway = i64::try_from(self.0.cfg.leeway.as_secs()).unwrap_or(0);
        if claims.exp + leeway <= now {
            return Err(AuthError::Invalid("expired".into()));
        }
        if claims.nbf - leeway > now {
            return Err(AuthError::Invalid("not yet valid".into()));
        }
        if claims.iss != self.0.cfg.issuer {
            return Err(AuthError::Invalid("wrong issuer".into()));
        }
        if claims.aud != self.0.cfg.audience {
            return Err(AuthError::Invalid("wrong audience".into()));
        }
        Ok(claims)
    }
}

/// The three parts of a compact JWS with the header's verdicts applied: RS256 only (which
/// refuses `none` and HS/RS confusion before any key is touched) and a `kid`.
struct Parts<'a> {
    kid: String,
    /// `header.payload`, the signed bytes.
    signed: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Tokens longer than this are refused unread (a header of megabytes is an attack, not a JWT).
const MAX_TOKEN: usize = 16 * 1024;

fn split(token: &str) -> Result<Parts<'_>, AuthError> {
    if token.len() > MAX_TOKEN {
        return Err(AuthError::Malformed);
    }
    let (signed, sig) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(AuthError::Malformed)?;
    if header.is_empty() || payload.is_empty() || sig.is_empty() || payload.contains('.') {
        return Err(AuthError::Malformed);
    }
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(AuthError::Malformed)?;
    if header.alg != "RS256" {
        return Err(AuthError::Algorithm(header.alg));
    }
    let kid = header.kid.ok_or(AuthError::NoKid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| AuthError::Malformed)?;
    Ok(Parts {
        kid,
        signed,
        payload,
        signature,
    })
}

fn decode_set(set: &JwkSet) -> Result<HashMap<String, Arc<VerifyKey>>, AuthError> {
    let mut out = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        // Only RSA keys are accepted for RS256; anything else in the set is ignored.
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            continue;
        };
        let n = URL_SAFE_NO_PAD
            .decode(&rsa.n)
            .map_err(|e| AuthError::Key(e.to_string()))?;
        let e = URL_SAFE_NO_PAD
            .decode(&rsa.e)
            .map_err(|e| AuthError::Key(e.to_string()))?;
        let parsed = RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|e| AuthError::Key(format!("JWK {kid}: {e}")))?;
        out.insert(kid, Arc::new(VerifyKey(parsed)));
    }
    Ok(out)
}
