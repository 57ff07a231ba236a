//! The SSRF guard: private addresses refused after resolution and on every redirect; the
//! allow-list exempts exactly the named host and port.
use std::net::IpAddr;

use fetch::FetchError;

use crate::support::{fetcher, serve};

fn blocked(r: Result<fetch::Page, FetchError>) -> IpAddr {
    match r {
        Err(FetchError::Blocked { addr }) => addr,
        other => panic!("expected Blocked, got {other:?}"),
    }
}

#[tokio::test]
async fn a_loopback_literal_is_refused_although_a_server_listens_there() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher("")?;
    let addr = blocked(f.get(&format!("{}/page", s.base())).await);
    assert_eq!(addr, "127.0.0.1".parse::<IpAddr>()?);
    Ok(())
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_after_resolution() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher("")?;
    let addr = blocked(f.get(&format!("http://localhost:{}/page", s.port())).await);
    assert!(addr.is_loopback(), "{addr}");
    Ok(())
}

#[tokio::test]
async fn an_ipv6_loopback_url_is_refused() -> anyhow::Result<()> {
    let f = fetcher("")?;
    let addr = blocked(f.get("http://[::1]:9/page").await);
    assert_eq!(addr, "::1".parse::<IpAddr>()?);
    Ok(())
}

#[tokio::test]
async fn disguised_internal_addresses_are_refused() -> anyhow::Result<()> {
    let f = fetcher("")?;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://10.0.0.1/",
        "http://100.64.1.1/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ] {
        let r = f.get(url).await;
        assert!(matches!(r, Err(FetchError::Blocked { .. })), "{url}: {r:?}");
    }
    Ok(())
}

#[tokio::test]
async fn other_schemes_and_malformed_urls_are_typed_errors() -> anyhow::Result<()> {
    let f = fetcher("")?;
    assert!(
        matches!(f.get("file:///etc/passwd").await, Err(FetchError::BadScheme(s)) if s == "file")
    );
    assert!(matches!(
        f.get("gopher://example.com/").await,
        Err(FetchError::BadScheme(_))
    ));
    assert!(matches!(
        f.get("not a url").await,
        Err(FetchError::InvalidUrl(_))
    ));
    assert!(matches!(
        f.get("http://user:pw@example.com/").await,
        Err(FetchError::InvalidUrl(_))
    ));
    let long = format!("http://example.com/{}", "a".repeat(10_000));
    assert!(matches!(f.get(&long).await, Err(FetchError::InvalidUrl(_))));
    Ok(())
}

#[tokio::test]
async fn an_allow_listed_host_and_port_is_fetched() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher(&format!("localhost:{0},127.0.0.1:{0}", s.port()))?;
    let by_ip = f.get(&format!("{}/page", s.base())).await?;
    assert_eq!(by_ip.status, 200);
    assert!(String::from_utf8_lossy(&by_ip.body).contains("hello"));
    let by_name = f
        .get(&format!("http://localhost:{}/page", s.port()))
        .await?;
    assert!(by_name.content_type.starts_with("text/html"));
    Ok(())
}

#[tokio::test]
async fn an_ipv6_server_is_reached_only_when_allow_listed() -> anyhow::Result<()> {
    let Ok(s) = serve("[::1]:0", None, None).await else {
        panic!("IPv6 loopback is not available on this machine");
    };
    let url = format!("{}/page", s.base());
    assert!(matches!(
        fetcher("")?.get(&url).await,
        Err(FetchError::Blocked { .. })
    ));
    let page = fetcher(&format!("[::1]:{}", s.port()))?.get(&url).await?;
    assert_eq!(page.status, 200);
    Ok(())
}

#[tokio::test]
async fn the_allow_list_exempts_only_the_named_port() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let other = s.port().wrapping_add(1).max(1);
    let f = fetcher(&format!("127.0.0.1:{other},localhost:{other}"))?;
    blocked(f.get(&format!("{}/page", s.base())).await);
    blocked(f.get(&format!("http://localhost:{}/page", s.port())).await);
    Ok(())
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused() -> anyhow::Result<()> {
    let inner = serve("127.0.0.1:0", None, None).await?;
    // The first hop is allow-listed; the hop it redirects to is not.
    for target in [
        format!("{}/page", inner.base()),
        format!("http://localhost:{}/page", inner.port()),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let outer = serve("127.0.0.1:0", None, Some(target.clone())).await?;
        let f = fetcher(&format!("127.0.0.1:{}", outer.port()))?;
        let r = f.get(&format!("{}/away", outer.base())).await;
        assert!(
            matches!(r, Err(FetchError::Blocked { .. })),
            "{target}: {r:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_delivery_post_is_guarded_too() -> anyhow::Result<()> {
    let s = serve("127.0.0.1:0", None, None).await?;
    let f = fetcher("")?;
    let url = fetch::Url::parse(&format!("http://localhost:{}/page", s.port()))?;
    let r = f.post(&url, Default::default(), "{}".into()).await;
    assert!(matches!(r, Err(FetchError::Blocked { .. })), "{r:?}");
    Ok(())
}

#[test]
fn malformed_allow_list_entries_are_refused() {
    for bad in ["http://x", "host:notaport", "a/b", "host:99999"] {
        assert!(fetch::AllowList::parse(bad).is_err(), "{bad}");
    }
    let ok = fetch::AllowList::parse(" localhost:8080 , [::1]:9000,example.internal ").expect("ok");
    assert!(ok.allows("localhost", 8080));
    assert!(!ok.allows("localhost", 8081));
    assert!(ok.allows("[::1]", 9000));
    assert!(ok.allows("EXAMPLE.internal", 443));
}
