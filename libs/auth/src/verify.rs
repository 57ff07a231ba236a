use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use problem::Problem;

use crate::Claims;

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

struct Inner {
    keys: RwLock<HashMap<String, Arc<DecodingKey>>>,
    validation: Validation,
    source: JwksSource,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
}

/// Verifies access tokens: RS256 only, a known `kid`, signature, `exp`/`nbf` (with leeway),
/// issuer and audience.
#[derive(Clone)]
pub struct Verifier(Arc<Inner>);

impl Verifier {
    pub fn new(cfg: VerifierConfig) -> Result<Self, AuthError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = cfg.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.set_issuer(&[cfg.issuer.as_str()]);
        validation.set_audience(&[cfg.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
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
            validation,
            source: cfg.source,
            last_fetch: tokio::sync::Mutex::new(None),
            http,
        })))
    }

    /// Verifies with the keys already known (no I/O). The hot path.
    pub fn verify_cached(&self, token: &str) -> Result<Claims, AuthError> {
        let kid = self.header_kid(token)?;
        let key = self.key(&kid).ok_or(AuthError::UnknownKid)?;
        self.decode(token, &key)
    }

    /// Verifies, fetching the JWKS first when the token's `kid` is not known yet.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let kid = self.header_kid(token)?;
        if let Some(key) = self.key(&kid) {
            return self.decode(token, &key);
        }
        self.refresh().await?;
        let key = self.key(&kid).ok_or(AuthError::UnknownKid)?;
        self.decode(token, &key)
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
        Ok(())
    }

    fn header_kid(&self, token: &str) -> Result<String, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            // Covers `none` and HS/RS confusion (an HMAC over the public key) up front.
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        header.kid.ok_or(AuthError::NoKid)
    }

    fn key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.0
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            .cloned()
    }

    fn decode(&self, token: &str, key: &DecodingKey) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, key, &self.0.validation)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Invalid(describe(&e)))
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "expired".into(),
        K::ImmatureSignature => "not yet valid".into(),
        K::InvalidIssuer => "wrong issuer".into(),
        K::InvalidAudience => "wrong audience".into(),
        K::InvalidSignature => "bad signature".into(),
        K::MissingRequiredClaim(c) => format!("missing claim {c}"),
        K::InvalidAlgorithm => "algorithm mismatch".into(),
        K::Json(_) | K::Base64(_) | K::Utf8(_) => "malformed claims".into(),
        _ => "rejected".into(),
    }
}

fn decode_set(set: &JwkSet) -> Result<HashMap<String, Arc<DecodingKey>>, AuthError> {
    let mut out = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        // Only RSA keys are accepted for RS256; anything else in the set is ignored.
        if !matches!(
            jwk.algorithm,
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
        ) {
            continue;
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Key(e.to_string()))?;
        out.insert(kid, Arc::new(key));
    }
    Ok(out)
}
