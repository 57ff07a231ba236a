//! The blob store over `object_store`: content-addressed puts, verified gets, sealing, links.
use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload,
    aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey},
    local::LocalFileSystem,
    path::Path,
    signer::{Method, Signer},
};

use crate::{
    Backend, BlobError, BlobsConfig, Digest, Link, Tenant, links::LinkSigner, seal::Sealer,
};

/// What a put stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub digest: Digest,
    pub size: usize,
    pub sealed: bool,
    /// False when the same bytes were already stored (nothing was written).
    pub created: bool,
}

/// The blob store. Cheap to clone.
#[derive(Clone)]
pub struct Blobs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    s3: Option<Arc<AmazonS3>>,
    prefix: Path,
    sealer: Option<Sealer>,
    links: Option<LinkSigner>,
}

impl Blobs {
    /// Opens the configured backend (creating a filesystem root if missing).
    pub fn open(cfg: &BlobsConfig) -> Result<Self, BlobError> {
        let (store, s3, prefix): (Arc<dyn ObjectStore>, _, _) = match &cfg.backend {
            Backend::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    BlobError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(dir)?;
                (Arc::new(fs), None, Path::default())
            }
            Backend::S3 { bucket, prefix } => {
                let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
                for (k, v) in &cfg.s3 {
                    let key: AmazonS3ConfigKey = k
                        .to_ascii_lowercase()
                        .parse()
                        .map_err(|e| BlobError::Config(format!("{k}: {e}")))?;
                    b = b.with_config(key, v);
                }
                let s3 = Arc::new(b.build()?);
                (
                    s3.clone() as Arc<dyn ObjectStore>,
                    Some(s3),
                    Path::from(prefix.as_str()),
                )
            }
        };
        let sealer = cfg
            .seal_key
            .as_deref()
            .map(Sealer::from_key_material)
            .transpose()?;
        let links = cfg.link_key.as_deref().map(LinkSigner::new).transpose()?;
        Ok(Blobs {
            inner: Arc::new(Inner {
                store,
                s3,
                prefix,
                sealer,
                links,
            }),
        })
    }

    /// Start-up check for a service that stores sealed objects (e.g. NDAs): an error unless a
    /// sealing key is configured.
    pub fn require_sealing(&self) -> Result<(), BlobError> {
        self.inner
            .sealer
            .as_ref()
            .map(|_| ())
            .ok_or(BlobError::SealingUnavailable)
    }

    /// The object key of `digest` in `tenant`'s space.
    pub fn key(&self, tenant: Tenant, digest: &Digest, sealed: bool) -> Path {
        let t = tenant.to_string();
        let d = digest.hex();
        let mut parts = vec![t.as_str()];
        if sealed {
            parts.push("sealed");
        }
        parts.push(&d);
        parts
            .into_iter()
            .fold(self.inner.prefix.clone(), |p, part| p.join(part))
    }

    /// The underlying store (for operators' tools and tests that inspect what is at rest).
    pub fn raw(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// Stores `bytes` for `tenant` under their SHA-256; the same bytes are written once.
    pub async fn put(&self, tenant: Tenant, bytes: Bytes) -> Result<Stored, BlobError> {
        let digest = Digest::of(&bytes);
        let key = self.key(tenant, &digest, false);
        let size = bytes.len();
        let created = self.put_absent(&key, bytes).await?;
        Ok(Stored {
            digest,
            size,
            sealed: false,
            created,
        })
    }

    /// [`Self::put`], encrypted at rest; fails without a sealing key (never stores in clear).
    pub async fn put_sealed(&self, tenant: Tenant, bytes: Bytes) -> Result<Stored, BlobError> {
        let sealer = self
            .inner
            .sealer
            .as_ref()
            .ok_or(BlobError::SealingUnavailable)?;
        let digest = Digest::of(&bytes);
        let key = self.key(tenant, &digest, true);
        if self.exists(&key).await? {
            return Ok(Stored {
                digest,
                size: bytes.len(),
                sealed: true,
                created: false,
            });
        }
        let sealed = sealer.seal(key.as_ref(), &bytes)?;
        let created = self.put_absent(&key, sealed.into()).await?;
        Ok(Stored {
            digest,
            size: bytes.len(),
            sealed: true,
            created,
        })
    }

    /// `tenant`'s blob `digest`, checked against its digest.
    pub async fn get(&self, tenant: Tenant, digest: &Digest) -> Result<Bytes, BlobError> {
        let bytes = self.read(&self.key(tenant, digest, false)).await?;
        verified(bytes, digest)
    }

    /// `tenant`'s sealed blob `digest`, opened and checked.
    pub async fn get_sealed(&self, tenant: Tenant, digest: &Digest) -> Result<Bytes, BlobError> {
        let sealer = self
            .inner
            .sealer
            .as_ref()
            .ok_or(BlobError::SealingUnavailable)?;
        let key = self.key(tenant, digest, true);
        let sealed = self.read(&key).await?;
        let plain = sealer.open(key.as_ref(), &sealed)?;
        verified(plain.into(), digest)
    }

    /// Removes a blob (either kind); absent is not an error.
    pub async fn delete(
        &self,
        tenant: Tenant,
        digest: &Digest,
        sealed: bool,
    ) -> Result<(), BlobError> {
        match self
            .inner
            .store
            .delete(&self.key(tenant, digest, sealed))
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A signed link to `tenant`'s blob, valid for `ttl`.
    pub fn link(&self, tenant: Tenant, digest: Digest, ttl: Duration) -> Result<Link, BlobError> {
        let signer = self
            .inner
            .links
            .as_ref()
            .ok_or(BlobError::LinksUnavailable)?;
        Ok(signer.sign(tenant, digest, ttl))
    }

    /// The check a service's download route makes before serving a link's blob.
    pub fn verify_link(&self, link: &Link) -> Result<(), BlobError> {
        let signer = self
            .inner
            .links
            .as_ref()
            .ok_or(BlobError::LinksUnavailable)?;
        signer.verify(link)
    }

    /// An S3 presigned GET URL (unsealed blobs only: a sealed object is ciphertext at rest).
    pub async fn presigned_get(
        &self,
        tenant: Tenant,
        digest: &Digest,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let s3 = self.inner.s3.as_ref().ok_or(BlobError::NotSupported)?;
        let key = self.key(tenant, digest, false);
        Ok(s3.signed_url(Method::GET, &key, ttl).await?.to_string())
    }

    async fn exists(&self, key: &Path) -> Result<bool, BlobError> {
        match self.inner.store.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes unless the key exists. Two writers racing on the same content write the same
    /// bytes (or, sealed, an equally valid ciphertext), so the check needs no lock.
    async fn put_absent(&self, key: &Path, bytes: Bytes) -> Result<bool, BlobError> {
        if self.exists(key).await? {
            return Ok(false);
        }
        self.inner.store.put(key, PutPayload::from(bytes)).await?;
        Ok(true)
    }

    async fn read(&self, key: &Path) -> Result<Bytes, BlobError> {
        match self.inner.store.get(key).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }
}

fn verified(bytes: Bytes, digest: &Digest) -> Result<Bytes, BlobError> {
    if Digest::of(&bytes) == *digest {
        Ok(bytes)
    } else {
        Err(BlobError::Corrupt)
    }
}
