//! The rate limiter against a real Redis.
use std::time::Duration;

use futures::future::join_all;
use kit::cache::{self, Limit, RateLimiter, Subject};

fn limiter() -> anyhow::Result<RateLimiter> {
    let pool = cache::connect(&testkit::redis_url(), 64)?;
    Ok(RateLimiter::new(
        pool,
        &cache::KeySpace::new("", &testkit::unique("rl")),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_n_of_fifty_concurrent_callers_pass() -> anyhow::Result<()> {
    let rl = limiter()?;
    let limit = Limit {
        max: 20,
        window: Duration::from_secs(60),
    };
    let calls = (0..50).map(|_| {
        let rl = rl.clone();
        tokio::spawn(async move { rl.check("login", Subject::Ip("203.0.113.7"), limit).await })
    });
    let results: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("redis"))
        .collect();
    let allowed = results.iter().filter(|d| d.allowed).count();
    assert_eq!(allowed, 20, "exactly the limit is admitted");
    for d in results.iter().filter(|d| !d.allowed) {
        assert!(d.retry_after > Duration::ZERO && d.retry_after <= Duration::from_secs(60));
    }
    // Remaining counts down to zero without repeats among the admitted.
    let mut remaining: Vec<u32> = results
        .iter()
        .filter(|d| d.allowed)
        .map(|d| d.remaining)
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..20).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn subjects_and_names_are_counted_separately() -> anyhow::Result<()> {
    let rl = limiter()?;
    let limit = Limit::per_hour(1);
    assert!(rl.check("signup", Subject::Ip("a"), limit).await?.allowed);
    assert!(!rl.check("signup", Subject::Ip("a"), limit).await?.allowed);
    assert!(rl.check("signup", Subject::Ip("b"), limit).await?.allowed);
    assert!(rl.check("signup", Subject::User("a"), limit).await?.allowed);
    assert!(rl.check("signup", Subject::Key("a"), limit).await?.allowed);
    assert!(rl.check("login", Subject::Ip("a"), limit).await?.allowed);
    Ok(())
}

#[tokio::test]
async fn the_window_slides_and_retry_after_is_accurate() -> anyhow::Result<()> {
    let rl = limiter()?;
    let limit = Limit {
        max: 2,
        window: Duration::from_millis(400),
    };
    assert!(rl.check("x", Subject::Key("k"), limit).await?.allowed);
    assert!(rl.check("x", Subject::Key("k"), limit).await?.allowed);
    let refused = rl.check("x", Subject::Key("k"), limit).await?;
    assert!(!refused.allowed);
    assert!(refused.retry_after <= Duration::from_millis(400));
    tokio::time::sleep(refused.retry_after + Duration::from_millis(30)).await;
    assert!(
        rl.check("x", Subject::Key("k"), limit).await?.allowed,
        "admitted once the oldest call left the window"
    );
    Ok(())
}

#[tokio::test]
async fn enforce_answers_429_with_retry_after() -> anyhow::Result<()> {
    let rl = limiter()?;
    let limit = Limit::per_minute(1);
    rl.enforce("claim", Subject::Key("t"), limit)
        .await
        .expect("first passes");
    let p = rl
        .enforce("claim", Subject::Key("t"), limit)
        .await
        .expect_err("second refused");
    assert_eq!(p.status().as_u16(), 429);
    assert!(p.body().retry_after.is_some_and(|s| (1..=60).contains(&s)));
    Ok(())
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed() -> anyhow::Result<()> {
    let pool = cache::connect("redis://127.0.0.1:1", 2)?;
    let rl = RateLimiter::new(pool, &cache::KeySpace::new("", "down"));
    let p = rl
        .enforce("login", Subject::Ip("a"), Limit::per_minute(5))
        .await
        .expect_err("no limit check, no pass");
    assert_eq!(p.status().as_u16(), 503);
    Ok(())
}
