//! Hostile answers: huge bodies, slow drips, redirect loops, wrong content types.
use std::time::{Duration, Instant};

use fetch::FetchError;

use crate::support::{fetcher, fetcher_with, serve};

#[tokio::test]
async fn a_one_gigabyte_body_is_cut_at_the_cap() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher_with(&format!("127.0.0.1:{}", s.port()), |c| {
        c.max_body_bytes = 1024 * 1024;
    })?;
    let started = Instant::now();
    let r = f.get(&format!("{}/big", s.base())).await;
    assert!(
        matches!(r, Err(FetchError::TooLarge { limit }) if limit == 1024 * 1024),
        "{r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_refused_before_reading() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let started = Instant::now();
    let r = f.get(&format!("{}/big-declared", s.base())).await;
    assert!(matches!(r, Err(FetchError::TooLarge { .. })), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_slow_drip_server_is_cut_by_the_total_timeout() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher_with(&format!("127.0.0.1:{}", s.port()), |c| {
        c.total_timeout = Duration::from_secs(1);
    })?;
    let started = Instant::now();
    let r = f.get(&format!("{}/drip", s.base())).await;
    assert!(matches!(r, Err(FetchError::Timeout)), "{r:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_redirect_loop_stops_at_the_limit() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let r = f.get(&format!("{}/loop", s.base())).await;
    assert!(
        matches!(r, Err(FetchError::RedirectLimit { limit: 5 })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn redirects_within_the_limit_are_followed_and_recorded() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let page = f.get(&format!("{}/hops/3", s.base())).await?;
    assert_eq!(page.url.path(), "/page");
    assert_eq!(page.redirects.len(), 4);
    assert!(matches!(
        f.get(&format!("{}/hops/5", s.base())).await,
        Err(FetchError::RedirectLimit { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn a_content_type_off_the_list_is_refused() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let r = f.get(&format!("{}/binary", s.base())).await;
    assert!(
        matches!(&r, Err(FetchError::BadContentType { content_type }) if content_type == "application/octet-stream"),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_error_status_is_reported_with_its_code() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher(&format!("127.0.0.1:{}", s.port()))?;
    let r = f.get(&format!("{}/missing", s.base())).await;
    assert!(matches!(r, Err(FetchError::Http { status: 404 })), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn the_user_agent_is_the_configured_one() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher_with(&format!("127.0.0.1:{}", s.port()), |c| {
        c.user_agent = "acme-research/2.1".into();
    })?;
    let page = f.get(&format!("{}/ua", s.base())).await?;
    assert_eq!(&page.body[..], b"acme-research/2.1");
    Ok(())
}

#[tokio::test]
async fn requests_to_one_host_are_paced() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher_with(&format!("127.0.0.1:{}", s.port()), |c| {
        c.per_host_interval = Duration::from_millis(300);
    })?;
    let started = Instant::now();
    for _ in 0..3 {
        f.get(&format!("{}/page", s.base())).await?;
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600), "{took:?}");
    Ok(())
}

#[tokio::test]
async fn errors_become_problems_the_caller_can_answer() {
    let p: problem::Problem = FetchError::Blocked {
        addr: "10.0.0.1".parse().expect("ip"),
    }
    .into();
    assert_eq!(p.status().as_u16(), 422);
    let p: problem::Problem = FetchError::Timeout.into();
    assert_eq!(p.status().as_u16(), 504);
}
