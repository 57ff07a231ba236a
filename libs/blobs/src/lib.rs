//! Object storage: S3-compatible in a cluster, the filesystem locally; content-addressed.
//!
//! Objects are stored under `<prefix>/<organization_id>/<sha256>` (sealed ones under
//! `<prefix>/<organization_id>/sealed/<sha256>`), so the same bytes are stored once per tenant and
//! every read names its tenant. Reads verify the digest. Sealed objects are encrypted at rest
//! with AES-256-GCM (`FLEET_BLOBS_KEY_FILE`), bound to their key. Links are signed and expiring
//! (HMAC-SHA256 over tenant, digest and expiry, verified by [`Blobs::verify_link`]); on S3, also
//! presigned URLs. ARCHITECTURE §4, §10.
use std::{fmt, str::FromStr};

use problem::Problem;

mod config;
mod digest;
mod links;
mod seal;
mod store;

pub use config::{Backend, BlobsConfig};
pub use digest::Digest;
pub use links::Link;
pub use store::{Blobs, Stored};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no such blob")]
    NotFound,
    #[error("the stored object does not match its digest")]
    Corrupt,
    #[error("sealed storage needs FLEET_BLOBS_KEY_FILE")]
    SealingUnavailable,
    #[error("signed links need FLEET_BLOBS_URL_KEY_FILE")]
    LinksUnavailable,
    #[error("the link is invalid or has expired")]
    BadLink,
    #[error("{0} is not a SHA-256 digest")]
    BadDigest(String),
    #[error("presigned URLs need an S3 backend")]
    NotSupported,
    #[error("blob storage configuration: {0}")]
    Config(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

impl From<BlobError> for Problem {
    fn from(e: BlobError) -> Self {
        use http::StatusCode as S;
        match e {
            BlobError::NotFound => Problem::not_found("blob"),
            BlobError::BadLink => Problem::new(S::FORBIDDEN, "blob-link-invalid", e.to_string()),
            BlobError::BadDigest(_) => Problem::invalid("digest", e.to_string()),
            other => Problem::internal(other),
        }
    }
}

/// A tenant id as it appears in keys (a UUID's canonical form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tenant(pub uuid::Uuid);

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Tenant {
    type Err = BlobError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s)
            .map(Tenant)
            .map_err(|_| BlobError::Config(format!("{s:?} is not an organisation id")))
    }
}
