//! Signed, expiring links.
use std::time::Duration;

use blobs::{BlobError, Digest, Link};

use crate::support::{filesystem, tenant};

#[tokio::test]
async fn a_signed_link_verifies_and_a_changed_one_does_not() -> anyhow::Result<()> {
    let fx = filesystem(false)?;
    let t = tenant();
    let link = fx
        .blobs
        .link(t, Digest::of(b"x"), Duration::from_secs(300))?;
    fx.blobs.verify_link(&link)?;
    assert!(link.path_and_query().contains(&link.signature));
    let tampered = [
        Link {
            tenant: tenant(),
            ..link.clone()
        },
        Link {
            digest: Digest::of(b"y"),
            ..link.clone()
        },
        Link {
            expires: link.expires + 3600,
            ..link.clone()
        },
        Link {
            signature: "00".repeat(32),
            ..link.clone()
        },
        Link {
            signature: "not hex".into(),
            ..link.clone()
        },
    ];
    for l in tampered {
        assert!(
            matches!(fx.blobs.verify_link(&l), Err(BlobError::BadLink)),
            "{l:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_expired_link_is_refused() -> anyhow::Result<()> {
    let fx = filesystem(false)?;
    let link = fx
        .blobs
        .link(tenant(), Digest::of(b"x"), Duration::from_secs(1))?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(matches!(
        fx.blobs.verify_link(&link),
        Err(BlobError::BadLink)
    ));
    Ok(())
}

#[test]
fn a_short_link_key_is_a_configuration_error() {
    let cfg = blobs::BlobsConfig {
        backend: blobs::Backend::File(std::env::temp_dir().join("fleet-blobs-shortkey")),
        s3: vec![],
        seal_key: None,
        link_key: Some(b"short".to_vec()),
    };
    assert!(matches!(
        blobs::Blobs::open(&cfg),
        Err(BlobError::Config(_))
    ));
}
