//! The typed client against the sample service.
use reqwest::StatusCode;
use serde_json::json;
use testkit::{Auth, Svc};
use uuid::Uuid;

async fn sample() -> anyhow::Result<(Svc, String)> {
    let t = Svc::start(&testkit::sample::SERVICE).await?;
    let token = t.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    Ok((t, token))
}

#[tokio::test]
async fn expect_answers_the_body_and_send_the_status_and_headers() -> anyhow::Result<()> {
    let (t, token) = sample().await?;
    let made = t
        .post("/api/v1/things")
        .bearer(&token)
        .json(json!({"name": "bolt", "quantity": 2}))
        .expect(201)
        .await;
    assert_eq!(made["name"], "bolt");
    let r = t
        .get(&format!(
            "/api/v1/things/{}",
            made["id"].as_str().unwrap_or_default()
        ))
        .auth(Auth::bearer(&token).header("x-correlation-id", "corr-123"))
        .send()
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["quantity"], 2);
    assert_eq!(r.header("x-correlation-id"), Some("corr-123"));
    assert!(!r.is_problem());
    let (st, body) = t
        .get("/healthz/live")
        .query("probe", "a b&c")
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        t.client_ip()
            .is_some_and(|ip| ip.starts_with("198.51.100."))
    );
    Ok(())
}

#[tokio::test]
async fn expect_problem_checks_the_content_type() -> anyhow::Result<()> {
    let (t, token) = sample().await?;
    let p = t
        .get(&format!("/api/v1/things/{}", Uuid::new_v4()))
        .bearer(&token)
        .expect_problem(StatusCode::NOT_FOUND)
        .await;
    assert_eq!(p["status"], 404);
    let r = t.get("/healthz/live").send().await?;
    let caught = std::panic::catch_unwind(move || r.expect_problem(200));
    assert!(caught.is_err(), "a 200 JSON answer is not a problem");
    Ok(())
}

#[tokio::test]
#[should_panic(expected = "POST /api/v1/things: expected 201 Created, got 409 Conflict: {")]
async fn expect_panics_with_the_method_path_statuses_and_body() {
    let (t, token) = sample().await.expect("sample service");
    let body = json!({"name": "nut", "quantity": 1});
    t.post("/api/v1/things")
        .bearer(&token)
        .json(&body)
        .expect(201)
        .await;
    t.post("/api/v1/things")
        .bearer(&token)
        .json(&body)
        .expect(201)
        .await;
}
