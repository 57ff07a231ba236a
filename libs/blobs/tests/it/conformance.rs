//! The same behaviour on both backends.
use blobs::{BlobError, Blobs, Digest};
use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use crate::support::{Fixture, filesystem, s3, tenant};

/// Runs `$check(&Fixture)` on the filesystem and on S3.
macro_rules! on_both_backends {
    ($name:ident, sealing = $sealing:expr) => {
        mod $name {
            #[tokio::test]
            async fn on_the_filesystem() -> anyhow::Result<()> {
                super::$name(&crate::support::filesystem($sealing)?).await
            }

            #[tokio::test]
            async fn on_s3() -> anyhow::Result<()> {
                super::$name(&crate::support::s3($sealing).await?).await
            }
        }
    };
}

on_both_backends!(
    the_same_bytes_are_stored_once_under_their_digest,
    sealing = false
);
async fn the_same_bytes_are_stored_once_under_their_digest(fx: &Fixture) -> anyhow::Result<()> {
    let t = tenant();
    let body = Bytes::from_static(b"%PDF-1.7 logo and screenshots");
    let first = fx.blobs.put(t, body.clone()).await?;
    assert!(first.created);
    assert_eq!(first.digest, Digest::of(&body));
    assert_eq!(first.size, body.len());
    let second = fx.blobs.put(t, body.clone()).await?;
    assert!(!second.created, "the second put wrote again");
    assert_eq!(second.digest, first.digest);
    assert_eq!(fx.blobs.get(t, &first.digest).await?, body);
    Ok(())
}

on_both_backends!(another_tenants_blob_is_not_found, sealing = true);
async fn another_tenants_blob_is_not_found(fx: &Fixture) -> anyhow::Result<()> {
    let (a, b) = (tenant(), tenant());
    let plain = fx
        .blobs
        .put(a, Bytes::from_static(b"tenant a's data"))
        .await?;
    let sealed = fx
        .blobs
        .put_sealed(a, Bytes::from_static(b"tenant a's NDA"))
        .await?;
    assert!(matches!(
        fx.blobs.get(b, &plain.digest).await,
        Err(BlobError::NotFound)
    ));
    assert!(matches!(
        fx.blobs.get_sealed(b, &sealed.digest).await,
        Err(BlobError::NotFound)
    ));
    Ok(())
}

on_both_backends!(
    a_sealed_blob_is_ciphertext_at_rest_and_opens_again,
    sealing = true
);
async fn a_sealed_blob_is_ciphertext_at_rest_and_opens_again(fx: &Fixture) -> anyhow::Result<()> {
    let (a, b) = (tenant(), tenant());
    let nda = Bytes::from_static(b"MUTUAL NON-DISCLOSURE AGREEMENT between Acme and Globex");
    let stored = fx.blobs.put_sealed(a, nda.clone()).await?;
    assert!(stored.sealed && stored.created);
    let at_rest = raw_get(&fx.blobs, &fx.blobs.key(a, &stored.digest, true)).await?;
    assert!(
        !at_rest.windows(10).any(|w| w == &nda[..10]),
        "the plaintext is visible at rest"
    );
    assert_eq!(fx.blobs.get_sealed(a, &stored.digest).await?, nda);
    assert!(!fx.blobs.put_sealed(a, nda.clone()).await?.created);
    // Not readable as an unsealed blob, and not under another tenant's key.
    assert!(matches!(
        fx.blobs.get(a, &stored.digest).await,
        Err(BlobError::NotFound)
    ));
    let b_key = fx.blobs.key(b, &stored.digest, true);
    fx.blobs
        .raw()
        .put(&b_key, PutPayload::from(at_rest))
        .await?;
    assert!(matches!(
        fx.blobs.get_sealed(b, &stored.digest).await,
        Err(BlobError::Corrupt)
    ));
    Ok(())
}

on_both_backends!(a_tampered_object_is_refused, sealing = false);
async fn a_tampered_object_is_refused(fx: &Fixture) -> anyhow::Result<()> {
    let t = tenant();
    let stored = fx.blobs.put(t, Bytes::from_static(b"original")).await?;
    let key = fx.blobs.key(t, &stored.digest, false);
    fx.blobs
        .raw()
        .put(&key, PutPayload::from(Bytes::from_static(b"replaced")))
        .await?;
    assert!(matches!(
        fx.blobs.get(t, &stored.digest).await,
        Err(BlobError::Corrupt)
    ));
    Ok(())
}

on_both_backends!(sealing_without_a_key_is_refused, sealing = false);
async fn sealing_without_a_key_is_refused(fx: &Fixture) -> anyhow::Result<()> {
    assert!(matches!(
        fx.blobs.require_sealing(),
        Err(BlobError::SealingUnavailable)
    ));
    let r = fx
        .blobs
        .put_sealed(tenant(), Bytes::from_static(b"secret"))
        .await;
    assert!(matches!(r, Err(BlobError::SealingUnavailable)));
    Ok(())
}

on_both_backends!(a_missing_blob_is_not_found, sealing = false);
async fn a_missing_blob_is_not_found(fx: &Fixture) -> anyhow::Result<()> {
    let d = Digest::of(b"never stored");
    assert!(matches!(
        fx.blobs.get(tenant(), &d).await,
        Err(BlobError::NotFound)
    ));
    fx.blobs.delete(tenant(), &d, false).await?;
    Ok(())
}

on_both_backends!(a_deleted_blob_is_gone, sealing = false);
async fn a_deleted_blob_is_gone(fx: &Fixture) -> anyhow::Result<()> {
    let t = tenant();
    let s = fx.blobs.put(t, Bytes::from_static(b"short-lived")).await?;
    fx.blobs.delete(t, &s.digest, false).await?;
    assert!(matches!(
        fx.blobs.get(t, &s.digest).await,
        Err(BlobError::NotFound)
    ));
    Ok(())
}

on_both_backends!(presigned_urls_are_offered_only_by_s3, sealing = false);
async fn presigned_urls_are_offered_only_by_s3(fx: &Fixture) -> anyhow::Result<()> {
    let t = tenant();
    let body = Bytes::from_static(b"a screenshot");
    let s = fx.blobs.put(t, body.clone()).await?;
    let url = fx
        .blobs
        .presigned_get(t, &s.digest, std::time::Duration::from_secs(60))
        .await;
    if !fx.s3 {
        assert!(matches!(url, Err(BlobError::NotSupported)), "{url:?}");
        return Ok(());
    }
    let url = url?;
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let got = reqwest::get(&url).await?;
    assert!(got.status().is_success(), "{}", got.status());
    assert_eq!(got.bytes().await?, body);
    Ok(())
}

async fn raw_get(b: &Blobs, key: &object_store::path::Path) -> anyhow::Result<Bytes> {
    Ok(b.raw().get(key).await?.bytes().await?)
}

#[test]
fn the_filesystem_root_is_created() -> anyhow::Result<()> {
    let fx = filesystem(false)?;
    drop(fx);
    Ok(())
}

#[tokio::test]
async fn moto_is_installed_and_answers() -> anyhow::Result<()> {
    let fx = s3(false).await?;
    assert!(fx.s3);
    Ok(())
}
