//! The cross-tenant probe passes a service that keeps tenants apart and fails one that does not.
use reqwest::Method;
use serde_json::json;

use crate::fixture::{HONEST, LEAKY, Tenants, tenants};

fn probe(f: &Tenants) -> testkit::Probe<'_> {
    testkit::Probe::new(&f.t, &f.a)
        .id("id", f.b_thing)
        .body(
            Method::PATCH,
            "/api/v1/things/{id}",
            json!({"name": "taken over"}),
        )
        .secret(&f.b_name)
}

#[tokio::test]
async fn the_probe_passes_a_service_that_keeps_tenants_apart() -> anyhow::Result<()> {
    let f = tenants(&HONEST).await?;
    let report = probe(&f).run().await;
    let probed: Vec<&str> = report.probed.iter().map(|p| p.operation.as_str()).collect();
    assert_eq!(
        probed,
        ["GET /api/v1/things/{id}", "PATCH /api/v1/things/{id}"],
        "{report}"
    );
    assert!(report.probed.iter().all(|p| p.status == 404));
    // B still has its thing, unrenamed, and sees it.
    let own =
        f.t.get(&format!("/api/v1/things/{}", f.b_thing))
            .bearer(&f.b)
            .expect(200)
            .await;
    assert_eq!(own["name"], f.b_name);
    Ok(())
}

#[tokio::test]
async fn the_probe_fails_on_a_route_that_answers_another_tenants_row() -> anyhow::Result<()> {
    let f = tenants(&LEAKY).await?;
    let failure = probe(&f)
        .check()
        .await
        .expect_err("the leaky route must fail the probe");
    let text = failure.to_string();
    let leaky: Vec<&String> = failure
        .failures
        .iter()
        .filter(|x| x.starts_with("GET /api/v1/things/{id}/leaky"))
        .collect();
    assert!(
        leaky.iter().any(|x| x.contains("answered 200 OK")),
        "{text}"
    );
    assert!(
        leaky
            .iter()
            .any(|x| x.contains(&format!("B's {:?}", f.b_name))),
        "the leaked name is named: {text}"
    );
    assert!(
        failure
            .failures
            .iter()
            .any(|x| x.starts_with("GET /api/v1/things/{id}/exists")
                && x.contains("whether B's records exist can be told")),
        "403 for B's row but 404 for none is an existence oracle: {text}"
    );
    assert!(
        !failure
            .failures
            .iter()
            .any(|x| x.starts_with("GET /api/v1/things/{id}:")
                || x.starts_with("PATCH /api/v1/things/{id}")),
        "the honest routes pass: {text}"
    );
    // Skipped with a reason, the two wrong routes are reported as skipped and the rest passes.
    let report = probe(&f)
        .skip(
            Method::GET,
            "/api/v1/things/{id}/leaky",
            "the fixture's leak",
        )
        .skip(
            Method::GET,
            "/api/v1/things/{id}/exists",
            "the fixture's oracle",
        )
        .run()
        .await;
    assert_eq!(report.probed.len(), 2, "{report}");
    assert_eq!(report.skipped.len(), 2, "{report}");
    Ok(())
}

#[tokio::test]
#[should_panic(expected = "cross-tenant probe")]
async fn run_panics_with_the_failures() {
    let f = tenants(&LEAKY).await.expect("fixture");
    probe(&f).run().await;
}

#[tokio::test]
async fn an_operation_without_tenant_bs_ids_fails_the_probe_loudly() -> anyhow::Result<()> {
    let f = tenants(&HONEST).await?;
    let failure = testkit::Probe::new(&f.t, &f.a)
        .check()
        .await
        .expect_err("no ids supplied");
    for op in ["GET /api/v1/things/{id}", "PATCH /api/v1/things/{id}"] {
        assert!(
            failure
                .failures
                .iter()
                .any(|x| x.starts_with(op) && x.contains("no value of tenant B for id (uuid)")),
            "{failure}"
        );
    }
    // Naming an operation the document does not have is a failure too (a stale skip list).
    let failure = probe(&f)
        .skip(Method::DELETE, "/api/v1/things/{id}", "gone")
        .check()
        .await
        .expect_err("unknown operation");
    assert!(
        failure.failures.iter().any(|x| x
            == "DELETE /api/v1/things/{id} is configured but the OpenAPI document has no such operation"),
        "{failure}"
    );
    Ok(())
}

#[tokio::test]
async fn a_body_refused_before_the_existence_check_fails_the_probe() -> anyhow::Result<()> {
    let f = tenants(&HONEST).await?;
    // Without a body of its own the PATCH gets `{}`, refused (422) before the row is looked up.
    let failure = testkit::Probe::new(&f.t, &f.a)
        .id("id", f.b_thing)
        .check()
        .await
        .expect_err("422 is not an answer about existence");
    assert!(
        failure
            .failures
            .iter()
            .any(|x| x.starts_with("PATCH /api/v1/things/{id}")
                && x.contains("422")
                && x.contains("supply a valid one with .body()")),
        "{failure}"
    );
    // Declared, with the reason, it is accepted.
    testkit::Probe::new(&f.t, &f.a)
        .id("id", f.b_thing)
        .allow(
            Method::PATCH,
            "/api/v1/things/{id}",
            422,
            "the body is checked before the row",
        )
        .run()
        .await;
    Ok(())
}
