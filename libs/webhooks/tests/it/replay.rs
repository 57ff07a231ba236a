//! Replay protection by delivery id: in memory and in Redis.
use std::time::Duration;

use webhooks::{
    WebhookError,
    replay::{self, MemoryReplay, RedisReplay, ReplayGuard},
};

#[tokio::test]
async fn a_replayed_delivery_is_refused_in_memory() -> anyhow::Result<()> {
    let g = MemoryReplay::new(Duration::from_secs(60), 100);
    replay::check(&g, "docusign", "evt-1").await?;
    assert!(matches!(
        replay::check(&g, "docusign", "evt-1").await,
        Err(WebhookError::Replayed { id }) if id == "evt-1"
    ));
    // Another source's id space is its own.
    replay::check(&g, "twilio", "evt-1").await?;
    assert!(matches!(
        replay::check(&g, "twilio", "").await,
        Err(WebhookError::BadBody(_))
    ));
    Ok(())
}

#[tokio::test]
async fn the_memory_guard_forgets_after_its_window_and_stays_bounded() -> anyhow::Result<()> {
    let g = MemoryReplay::new(Duration::from_millis(100), 3);
    assert!(g.first_seen("s", "a").await?);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        g.first_seen("s", "a").await?,
        "expired ids are accepted again"
    );
    let g = MemoryReplay::new(Duration::from_secs(60), 3);
    for id in ["1", "2", "3", "4"] {
        assert!(g.first_seen("s", id).await?);
    }
    // "1" was the oldest and made room for "4"; the three newest are still remembered.
    assert!(g.first_seen("s", "1").await?);
    assert!(!g.first_seen("s", "4").await?);
    Ok(())
}

#[tokio::test]
async fn a_replayed_delivery_is_refused_across_replicas_through_redis() -> anyhow::Result<()> {
    let pool = cache::connect(&testkit::redis_url(), 2)?;
    let ns = format!("{}:", testkit::unique("webhooks"));
    let replica_a = RedisReplay::new(pool.clone(), ns.clone(), Duration::from_secs(60));
    let replica_b = RedisReplay::new(pool.clone(), ns.clone(), Duration::from_secs(60));
    replay::check(&replica_a, "hubspot", "delivery-42").await?;
    assert!(matches!(
        replay::check(&replica_b, "hubspot", "delivery-42").await,
        Err(WebhookError::Replayed { .. })
    ));
    let short = RedisReplay::new(pool, format!("{ns}short:"), Duration::from_millis(200));
    assert!(short.first_seen("hubspot", "d").await?);
    assert!(!short.first_seen("hubspot", "d").await?);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        short.first_seen("hubspot", "d").await?,
        "the key expired in Redis"
    );
    Ok(())
}
