//! Per-address limits answer 429 with `Retry-After`.
use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn signups_beyond_ten_an_hour_from_one_address_answer_429_with_retry_after()
-> anyhow::Result<()> {
    let t = svc().await?;
    let body = json!({"email": "x@gmail.com", "password": "SecurePass123!", "full_name": "J", "company_name": "Acme"});
    let calls = (0..12).map(|_| t.post("/api/v1/auth/signup").json(&body).send());
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.map(|r| r.status.as_u16()).unwrap_or(0))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        10,
        "ten per hour per IP: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2);
    let res = t.post("/api/v1/auth/signup").json(&body).send().await?;
    assert_eq!(res.status, 429);
    let wait: u64 = res.headers["retry-after"].to_str()?.parse()?;
    assert!(wait > 0 && wait <= 3600);
    // Another address is not affected.
    let res = t
        .post("/api/v1/auth/signup")
        .header("x-forwarded-for", "192.0.2.77")
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status, 422);
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

#[tokio::test]
async fn two_ipv6_addresses_in_one_64_share_one_budget_and_the_next_64_has_its_own()
-> anyhow::Result<()> {
    let t = svc().await?;
    let body = json!({"email": "x@gmail.com", "password": "SecurePass123!", "full_name": "J", "company_name": "Acme"});
    let signup = |ip: &str| {
        t.post("/api/v1/auth/signup")
            .header("x-forwarded-for", ip)
            .json(&body)
            .send()
    };
    // Ten signups an hour from one /64, whichever of its addresses they come from.
    for i in 0..5 {
        assert_eq!(signup("2001:db8:5:1::a").await?.status, 422, "{i}");
        assert_eq!(
            signup(&format!("2001:db8:5:1:{i}::b")).await?.status,
            422,
            "{i}"
        );
    }
    let res = signup("2001:db8:5:1:ffff:ffff:ffff:ffff").await?;
    assert_eq!(res.status, 429, "the /64 spent its budget");
    assert!(res.headers.contains_key("retry-after"));
    assert_eq!(signup("2001:db8:5:2::a").await?.status, 422, "another /64");
    Ok(())
}
