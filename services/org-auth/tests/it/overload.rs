//! Under load: password checks are bounded (each holds 19 MiB), and what is past the bound is
//! answered 503 with `Retry-After` while the service stays ready.
use crate::support::*;

#[tokio::test]
async fn forty_concurrent_wrong_logins_get_401_or_503_with_retry_after_and_the_service_stays_ready()
-> anyhow::Result<()> {
    // One check at a time and a short wait for it, so that the bound is reached.
    let t = svc_with(
        &[
            ("ORG_AUTH_HASH_CONCURRENCY", "1"),
            ("ORG_AUTH_HASH_WAIT_MS", "20"),
        ],
        "192.0.2.90",
    )
    .await?;
    let logins = (0..40).map(|i| {
        t.post("/api/v1/auth/login")
            .header("x-forwarded-for", &format!("198.18.9.{i}"))
            .json(json!({"email": email(&format!("guess{i}")), "password": "WrongPass123!"}))
            .send()
    });
    let ready = async {
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(t.get("/healthz/ready").send().await.map(|r| r.status));
        }
        statuses
    };
    let (answers, ready) = tokio::join!(futures::future::join_all(logins), ready);
    let mut busy = 0;
    for res in answers {
        let res = res?;
        match res.status.as_u16() {
            401 => {}
            503 => {
                busy += 1;
                assert!(res.is_problem(), "{}", res.text);
                assert!(
                    res.body["type"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("/busy"))
                );
                let wait: u64 = res.header("retry-after").unwrap_or_default().parse()?;
                assert!(wait >= 1);
            }
            other => panic!("a wrong login answered {other}: {}", res.text),
        }
    }
    for st in ready {
        assert_eq!(st?, StatusCode::OK, "ready while the logins run");
    }
    assert_eq!(t.get("/healthz/ready").send().await?.status, StatusCode::OK);
    println!("{busy} of 40 were past the bound");
    Ok(())
}
