//! Signed, expiring links: HMAC-SHA256 over `tenant/digest/expiry`, checked in constant time by
//! the service route that serves them.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;

use crate::{BlobError, Digest, Tenant};

/// What a signed link carries: put it in a route's path and query, read it back from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub tenant: Tenant,
    pub digest: Digest,
    /// Unix seconds after which the link is refused.
    pub expires: u64,
    /// Hex HMAC-SHA256.
    pub signature: String,
}

impl Link {
    /// `/{tenant}/{digest}?expires=…&signature=…`, to append to a route's base.
    pub fn path_and_query(&self) -> String {
        format!(
            "/{}/{}?expires={}&signature={}",
            self.tenant, self.digest, self.expires, self.signature
        )
    }
}

pub struct LinkSigner(hmac::Key);

impl LinkSigner {
    pub fn new(key: &[u8]) -> Result<Self, BlobError> {
        if key.len() < 32 {
            return Err(BlobError::Config(
                "FLEET_BLOBS_URL_KEY_FILE must hold at least 32 bytes".into(),
            ));
        }
        Ok(LinkSigner(hmac::Key::new(hmac::HMAC_SHA256, key)))
    }

    fn message(tenant: Tenant, digest: &Digest, expires: u64) -> String {
        format!("{tenant}/{digest}/{expires}")
    }

    pub fn sign(&self, tenant: Tenant, digest: Digest, ttl: Duration) -> Link {
        let expires = now_secs().saturating_add(ttl.as_secs());
        let tag = hmac::sign(&self.0, Self::message(tenant, &digest, expires).as_bytes());
        Link {
            tenant,
            digest,
            expires,
            signature: hex::encode(tag.as_ref()),
        }
    }

    pub fn verify(&self, link: &Link) -> Result<(), BlobError> {
        if link.expires < now_secs() {
            return Err(BlobError::BadLink);
        }
        let tag = hex::decode(&link.signature).map_err(|_| BlobError::BadLink)?;
        let msg = Self::message(link.tenant, &link.digest, link.expires);
        // hmac::verify compares in constant time.
        hmac::verify(&self.0, msg.as_bytes(), &tag).map_err(|_| BlobError::BadLink)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
