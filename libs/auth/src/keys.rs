use std::time::Duration;

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
};
use base64::Engine;
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash},
};
use uuid::Uuid;

use crate::{AuthError, Claims};

/// One RSA signing key and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// Loads a PEM RSA private key (PKCS#1 or PKCS#8). Without a `kid`, the key's RFC 7638
    /// thumbprint is used, so the same key always has the same id.
    pub fn from_pem(pem: &[u8], kid: Option<String>) -> Result<Self, AuthError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| AuthError::Key(e.to_string()))?;
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256)
            .map_err(|e| AuthError::Key(e.to_string()))?;
        let kid = match kid {
            Some(k) if !k.is_empty() => k,
            _ => jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|e| AuthError::Key(e.to_string()))?,
        };
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(SigningKey { kid, key, jwk })
    }

    /// A fresh 2048-bit key, as PKCS#8 PEM — for tests and for development runs that were given
    /// no key (never a built-in one).
    pub fn generate_pem() -> Result<String, AuthError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| AuthError::Key("RSA key generation failed".into()))?;
        let der = pair
            .as_der()
            .map_err(|_| AuthError::Key("RSA key encoding failed".into()))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(pem)
    }

    /// A fresh key with its thumbprint as `kid`.
    pub fn generate() -> Result<Self, AuthError> {
        Self::from_pem(Self::generate_pem()?.as_bytes(), None)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }
}

/// Issues access tokens. The first key signs; all keys are published in the JWKS, so a retired
/// key keeps verifying tokens it signed until they expire (rotation without downtime).
#[derive(Clone, Debug)]
pub struct Signer {
    keys: Vec<SigningKey>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl Signer {
    pub fn new(
        keys: Vec<SigningKey>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Result<Self, AuthError> {
        if keys.is_empty() {
            return Err(AuthError::Key("a signer needs at least one key".into()));
        }
        Ok(Signer {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn active_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// Fills in the registered claims (iss, aud, iat, nbf, exp, jti) and signs.
    pub fn issue(&self, mut claims: Claims) -> Result<String, AuthError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        claims.iss = self.issuer.clone();
        claims.aud = self.audience.clone();
        claims.iat = now;
        claims.nbf = now;
        claims.exp = now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        if claims.jti.is_empty() {
            claims.jti = Uuid::new_v4().to_string();
        }
        self.sign(&claims)
    }

    /// Signs with this signer's issuer and audience, keeping the caller's lifetime (`exp`)
    /// — for narrowed tokens whose lifetime differs from an access token's.
    pub fn sign_with_defaults(&self, mut claims: Claims) -> Result<String, AuthError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        claims.iss = self.issuer.clone();
        claims.aud = self.audience.clone();
        if claims.iat == 0 {
            claims.iat = now;
        }
        if claims.nbf == 0 {
            claims.nbf = now;
        }
        if claims.jti.is_empty() {
            claims.jti = Uuid::new_v4().to_string();
        }
        if claims.exp <= now {
            return Err(AuthError::Key("a token must expire in the future".into()));
        }
        self.sign(&claims)
    }

    /// Signs the claims exactly as given (tests use it to build expired or odd tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let key = &self.keys[0];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.key).map_err(|e| AuthError::Key(e.to_string()))
    }

    /// The public keys, for `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }
}
