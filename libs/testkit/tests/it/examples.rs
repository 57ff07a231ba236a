//! The specification's examples: loaded per service, abbreviated bodies read leniently, and a
//! replay that fails for an example neither replayed nor skipped.
use reqwest::Method;
use serde_json::json;

#[test]
fn every_example_is_loaded_and_the_abbreviated_ones_of_built_services_parse() {
    assert_eq!(testkit::examples::all().len(), 62);
    let org_auth = testkit::examples::of_service("0");
    let agents = testkit::examples::of_service("0.5");
    assert_eq!((org_auth.len(), agents.len()), (16, 11));
    for e in org_auth.iter().chain(&agents) {
        if !e.request.is_null() {
            assert!(e.request_body().is_some(), "{}: {}", e.key(), e.request);
        }
    }
    let members = org_auth
        .iter()
        .find(|e| e.key() == "GET /api/v1/organizations/{org_id}/members")
        .expect("the members example");
    let body = testkit::examples::lenient(
        members.responses[0].body["_raw"]
            .as_str()
            .unwrap_or_default(),
    )
    .expect("lenient JSON");
    assert_eq!(body["members"][0]["permissions"], json!({}));
    assert_eq!(
        testkit::examples::lenient("{\"u\": \"https://x.test\", // a comment\n \"n\": [...]}"),
        Some(json!({"u": "https://x.test", "n": []}))
    );
}

#[tokio::test]
async fn a_replay_names_the_examples_left_out() -> anyhow::Result<()> {
    let t = testkit::Svc::start(&testkit::sample::SERVICE).await?;
    let mut r = testkit::examples::Replay::new(&t, "0");
    for e in testkit::examples::of_service("0").iter().skip(1) {
        r.skip(
            Method::from_bytes(e.method.as_bytes())?,
            &e.path,
            "not this test's",
        );
    }
    let left = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.finish()));
    let msg = left
        .expect_err("one example left")
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("[\"POST /api/v1/auth/signup\"]"), "{msg}");
    Ok(())
}

#[tokio::test]
async fn a_replayed_example_checks_the_documented_status_and_fields() -> anyhow::Result<()> {
    // The sample service has no signup: its 404 problem is not the documented 201.
    let run = tokio::spawn(async {
        let t = testkit::Svc::start(&testkit::sample::SERVICE)
            .await
            .expect("sample");
        let mut r = testkit::examples::Replay::new(&t, "0");
        r.example(Method::POST, "/api/v1/auth/signup").run().await;
        for e in testkit::examples::of_service("0").iter().skip(1) {
            let m = Method::from_bytes(e.method.as_bytes()).expect("a method");
            r.skip(m, &e.path, "not this test's");
        }
        r.finish();
    })
    .await;
    let msg = run.expect_err("the replay fails").into_panic();
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("answered 404 Not Found, documented 201"),
        "{msg}"
    );
    Ok(())
}

#[tokio::test]
#[should_panic(expected = "ended without finish()")]
async fn a_replay_left_unfinished_fails() {
    let t = testkit::Svc::start(&testkit::sample::SERVICE)
        .await
        .expect("sample");
    let _r = testkit::examples::Replay::new(&t, "0");
}
