//! Where blobs live and with which keys, from the environment.
use std::path::PathBuf;

use crate::BlobError;

/// The storage backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A directory (`file:///path`, or a relative path; `var/blobs` by default).
    File(PathBuf),
    /// `s3://bucket/prefix`; credentials, region and endpoint from the `AWS_*` settings.
    S3 { bucket: String, prefix: String },
}

impl Backend {
    pub fn parse(url: &str) -> Result<Self, BlobError> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(BlobError::Config(format!(
                    "FLEET_BLOBS_URL {url:?} names no bucket"
                )));
            }
            return Ok(Backend::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(BlobError::Config(
                    "FLEET_BLOBS_URL file:// names no path".into(),
                ));
            }
            return Ok(Backend::File(PathBuf::from(path)));
        }
        if url.contains("://") {
            return Err(BlobError::Config(format!(
                "FLEET_BLOBS_URL {url:?}: use s3://bucket/prefix or file:///path"
            )));
        }
        Ok(Backend::File(PathBuf::from(url)))
    }
}

/// Everything [`crate::Blobs::open`] needs.
#[derive(Clone)]
pub struct BlobsConfig {
    pub backend: Backend,
    /// `AWS_*` settings for an S3 backend (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`), as read.
    pub s3: Vec<(String, String)>,
    /// The sealing key's file content (`FLEET_BLOBS_KEY_FILE`), if configured.
    pub seal_key: Option<Vec<u8>>,
    /// The link-signing key's file content (`FLEET_BLOBS_URL_KEY_FILE`), if configured.
    pub link_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for BlobsConfig {
    // Keys and credentials are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobsConfig")
            .field("backend", &self.backend)
            .field("sealing", &self.seal_key.is_some())
            .field("links", &self.link_key.is_some())
            .finish_non_exhaustive()
    }
}

const S3_KEYS: [&str; 6] = [
    "AWS_ENDPOINT",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ALLOW_HTTP",
];

impl BlobsConfig {
    /// From `lookup` (the service's configuration or the process environment). Outside
    /// development `FLEET_BLOBS_URL` is required; in development it defaults to `var/blobs`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        development: bool,
    ) -> Result<Self, BlobError> {
        let url = match lookup("FLEET_BLOBS_URL").filter(|s| !s.trim().is_empty()) {
            Some(u) => u,
            None if development => "var/blobs".to_string(),
            None => return Err(BlobError::Config("FLEET_BLOBS_URL is not set".into())),
        };
        let read = |var: &str| -> Result<Option<Vec<u8>>, BlobError> {
            lookup(var)
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    std::fs::read(p.trim())
                        .map_err(|e| BlobError::Config(format!("{var}: cannot read the file: {e}")))
                })
                .transpose()
        };
        Ok(BlobsConfig {
            backend: Backend::parse(&url)?,
            s3: S3_KEYS
                .iter()
                .filter_map(|k| lookup(k).map(|v| (k.to_string(), v)))
                .collect(),
            seal_key: read("FLEET_BLOBS_KEY_FILE")?,
            link_key: read("FLEET_BLOBS_URL_KEY_FILE")?,
        })
    }

    /// [`Self::from_lookup`] over the process environment (`FLEET_ENV=development` decides).
    pub fn from_env() -> Result<Self, BlobError> {
        let dev = std::env::var("FLEET_ENV").is_ok_and(|v| v == "development");
        Self::from_lookup(|k| std::env::var(k).ok(), dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_urls_parse() {
        assert_eq!(
            Backend::parse("s3://docs/fleet/nda").ok(),
            Some(Backend::S3 {
                bucket: "docs".into(),
                prefix: "fleet/nda".into()
            })
        );
        assert_eq!(
            Backend::parse("file:///srv/blobs").ok(),
            Some(Backend::File("/srv/blobs".into()))
        );
        assert!(Backend::parse("gs://x").is_err());
        assert!(Backend::parse("s3:///x").is_err());
    }

    #[test]
    fn production_requires_a_location() {
        assert!(BlobsConfig::from_lookup(|_| None, false).is_err());
        let dev = BlobsConfig::from_lookup(|_| None, true).expect("dev");
        assert_eq!(dev.backend, Backend::File("var/blobs".into()));
    }
}
