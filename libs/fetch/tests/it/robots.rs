//! robots.txt: disallowed paths refused, crawl-delay honoured, the file cached per host.
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use fetch::FetchError;

use crate::support::{fetcher, fetcher_with, serve};

const ROBOTS: &str = "User-agent: *\nDisallow: /private/\n";

#[tokio::test]
async fn a_path_robots_txt_disallows_is_refused() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", Some((StatusCode::OK, ROBOTS)), None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let r = f.get(&format!("{}/private/page", s.base())).await;
    assert!(
        matches!(r, Err(FetchError::DisallowedByRobots { .. })),
        "{r:?}"
    );
    assert_eq!(f.get(&format!("{}/page", s.base())).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn robots_txt_is_fetched_once_per_host() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", Some((StatusCode::OK, ROBOTS)), None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    for _ in 0..4 {
        f.get(&format!("{}/page", s.base())).await?;
    }
    assert_eq!(s.robots_hits(), 1);
    Ok(())
}

#[tokio::test]
async fn the_crawl_delay_spaces_requests_to_the_host() -> anyhow::Result<()> {
    let s = serve(
        "127.0.0.1:0",
        Some((StatusCode::OK, "User-agent: *\nCrawl-delay: 1\n")),
        None,
    )
    .await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let started = Instant::now();
    f.get(&format!("{}/page", s.base())).await?;
    f.get(&format!("{}/page", s.base())).await?;
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_crawl_delay_beyond_the_wait_limit_answers_rate_limited() -> anyhow::Result<()> {
    let s = serve(
        "127.0.0.1:0",
        Some((StatusCode::OK, "User-agent: *\nCrawl-delay: 20\n")),
        None,
    )
    .await?;
    let f = fetcher_with(&format!("127.0.0.1:{}", s.port()), |c| {
        c.max_pacing_wait = Duration::from_secs(1);
    })?;
    f.get(&format!("{}/page", s.base())).await?;
    let r = f.get(&format!("{}/page", s.base())).await;
    assert!(matches!(r, Err(FetchError::RateLimited { .. })), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn an_unavailable_robots_txt_disallows_the_site() -> anyhow::Result<()> {
    let s = serve(
        "127.0.0.1:0",
        Some((StatusCode::SERVICE_UNAVAILABLE, "")),
        None,
    )
    .await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let r = f.get(&format!("{}/page", s.base())).await;
    assert!(
        matches!(r, Err(FetchError::DisallowedByRobots { .. })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_robots_txt_allows_the_site() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    assert_eq!(
        f.get(&format!("{}/private/page", s.base())).await?.status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn a_group_for_the_configured_agent_applies() -> anyhow::Result<()> {
    let s = serve(
        "127.0.0.1:0",
        Some((
            StatusCode::OK,
            "User-agent: acmebot\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
        )),
        None,
    )
    .await?;
    let f = fetcher_with(&format!("127.0.0.1:{}", s.port()), |c| {
        c.user_agent = "acmebot/1.0".into();
    })?;
    let r = f.get(&format!("{}/page", s.base())).await;
    assert!(
        matches!(r, Err(FetchError::DisallowedByRobots { .. })),
        "{r:?}"
    );
    Ok(())
}
