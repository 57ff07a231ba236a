//! The service kit end to end: a small service started on ephemeral ports against the real
//! datastores, exercised over HTTP and gRPC.
use std::time::Duration;

mod trust;

use kit::store;
use testkit::sample::{SERVICE as THINGS, Thing};
use uuid::Uuid;

struct Fixture {
    svc: testkit::Spawned,
    org: Uuid,
    token: String,
}

async fn fixture() -> anyhow::Result<Fixture> {
    let svc = testkit::spawn(&THINGS).await?;
    let org = Uuid::new_v4();
    let token = svc.tokens.client(Uuid::new_v4(), org, "admin");
    Ok(Fixture { svc, org, token })
}

async fn post_raw(
    f: &Fixture,
    body: impl Into<reqwest::Body>,
    content_type: Option<&str>,
) -> anyhow::Result<reqwest::Response> {
    let mut req = f
        .svc
        .http
        .post(f.svc.url("/api/v1/things"))
        .bearer_auth(&f.token)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    Ok(req.send().await?)
}

async fn problem(res: reqwest::Response) -> anyhow::Result<(u16, serde_json::Value)> {
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "status {status} must be problem+json"
    );
    let cid = res
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: serde_json::Value = res.json().await?;
    assert_eq!(body["status"], status);
    assert_eq!(
        body["correlation_id"].as_str(),
        cid.as_deref(),
        "body and header carry one id"
    );
    Ok((status, body))
}

async fn count(f: &Fixture) -> anyhow::Result<i64> {
    let mut tx = store::begin(&f.svc.db.app, store::Scope::system()).await?;
    Ok(sqlx::query_scalar("SELECT count(*) FROM things")
        .fetch_one(&mut *tx)
        .await?)
}

#[tokio::test]
async fn runtime_endpoints_answer() -> anyhow::Result<()> {
    let f = fixture().await?;
    let live = f.svc.http.get(f.svc.url("/healthz/live")).send().await?;
    assert_eq!(live.status(), 200);
    let ready = f.svc.http.get(f.svc.url("/healthz/ready")).send().await?;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await?;
    let deps: Vec<&str> = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["dependency"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(deps, ["database", "redis", "kafka"]);

    let doc: serde_json::Value = f
        .svc
        .http
        .get(f.svc.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        doc["paths"]["/api/v1/things"]["post"].is_object(),
        "generated from the handlers"
    );
    assert!(doc["paths"]["/api/v1/things/{id}"]["get"].is_object());
    assert!(doc["components"]["schemas"]["NewThing"].is_object());

    f.svc
        .http
        .get(f.svc.url("/api/v1/things/not-a-uuid"))
        .bearer_auth(&f.token)
        .send()
        .await?;
    let metrics = f.svc.http.get(&f.svc.metrics).send().await?.text().await?;
    assert!(metrics.contains("http_requests_total{"), "{metrics}");
    assert!(metrics.contains("route=\"/api/v1/things/{id}\""));
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains("dependency_up{") && metrics.contains("service=\"things\""));
    assert!(
        metrics.contains("outbox_pending") && metrics.contains("outbox_published_total"),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn grpc_health_and_reflection_answer() -> anyhow::Result<()> {
    use kit::tonic;
    let f = fixture().await?;
    let channel = tonic::transport::Channel::from_shared(f.svc.grpc.clone())?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "things".into(),
            })
            .await
            .map(|r| r.into_inner().status);
        if status.as_ref().ok()
            == Some(&(tonic_health::pb::health_check_response::ServingStatus::Serving as i32))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gRPC health never reported SERVING: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    // Reflection is granted to the sample's caller `reporter`.
    let mut call = tonic::Request::new(futures::stream::iter(vec![req]));
    call.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", trust::credential(&f.svc, "reporter")?).parse()?,
    );
    let mut stream = refl.server_reflection_info(call).await?.into_inner();
    let resp = stream.message().await?.expect("a reflection answer");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        anyhow::bail!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn correlation_ids_are_echoed_or_generated() -> anyhow::Result<()> {
    let f = fixture().await?;
    let res = f
        .svc
        .http
        .get(f.svc.url("/healthz/live"))
        .header("x-correlation-id", "req-42.a_b:c")
        .send()
        .await?;
    assert_eq!(res.headers()["x-correlation-id"], "req-42.a_b:c");
    let res = f.svc.http.get(f.svc.url("/healthz/live")).send().await?;
    let generated = res.headers()["x-correlation-id"].to_str()?.to_string();
    assert!(Uuid::parse_str(&generated).is_ok());
    // Unsafe ids (spaces, oversized) are replaced, not echoed into logs and headers.
    for bad in ["has spaces", &"x".repeat(200)] {
        let res = f
            .svc
            .http
            .get(f.svc.url("/healthz/live"))
            .header("x-correlation-id", bad)
            .send()
            .await?;
        assert_ne!(res.headers()["x-correlation-id"], bad);
    }
    // Problems carry the same id in the body.
    let res = f
        .svc
        .http
        .get(f.svc.url("/no/such/path"))
        .header("x-correlation-id", "trace-me")
        .send()
        .await?;
    let (status, body) = problem(res).await?;
    assert_eq!(status, 404);
    assert_eq!(body["correlation_id"], "trace-me");
    Ok(())
}

#[tokio::test]
async fn bad_input_is_a_4xx_problem_and_changes_nothing() -> anyhow::Result<()> {
    let f = fixture().await?;
    let json = Some("application/json");
    let cases: Vec<(&str, reqwest::Response, u16, &str)> = vec![
        (
            "malformed JSON",
            post_raw(&f, "{\"name\": ", json).await?,
            400,
            "",
        ),
        (
            "wrong type",
            post_raw(&f, r#"{"name": 5, "quantity": 1}"#, json).await?,
            422,
            "name",
        ),
        (
            "missing field",
            post_raw(&f, r#"{"name": "a"}"#, json).await?,
            422,
            "quantity",
        ),
        (
            "unknown field",
            post_raw(&f, r#"{"name": "a", "quantity": 1, "admin": true}"#, json).await?,
            422,
            "admin",
        ),
        (
            "not an object",
            post_raw(&f, "[1,2,3]", json).await?,
            422,
            "",
        ),
        (
            "no content type",
            post_raw(&f, r#"{"name": "a", "quantity": 1}"#, None).await?,
            415,
            "",
        ),
        (
            "10 MB body",
            post_raw(&f, vec![b' '; 10 * 1024 * 1024], json).await?,
            413,
            "",
        ),
        (
            "NUL character in a field",
            post_raw(&f, r#"{"name": "a\u0000b", "quantity": 1}"#, json).await?,
            422,
            "name",
        ),
        (
            "rule broken in handler",
            post_raw(&f, r#"{"name": " ", "quantity": 1}"#, json).await?,
            422,
            "name",
        ),
        (
            "check constraint",
            post_raw(&f, r#"{"name": "z", "quantity": 0}"#, json).await?,
            422,
            "",
        ),
    ];
    for (what, res, want, field) in cases {
        let (status, body) = problem(res).await?;
        assert_eq!(status, want, "{what}: {body}");
        if !field.is_empty() {
            assert!(
                body["detail"].as_str().unwrap_or_default().contains(field),
                "{what} names {field}: {body}"
            );
        }
        assert!(
            !body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("things_"),
            "{what}: no SQL"
        );
    }
    assert_eq!(count(&f).await?, 0, "no rejected request changed anything");
    let res = f
        .svc
        .http
        .delete(f.svc.url("/api/v1/things"))
        .bearer_auth(&f.token)
        .send()
        .await?;
    assert!(res.headers().contains_key("allow"));
    let (status, _) = problem(res).await?;
    assert_eq!(status, 405);
    Ok(())
}

#[tokio::test]
async fn database_failures_are_generic_500s_and_conflicts_are_409() -> anyhow::Result<()> {
    let f = fixture().await?;
    let res = f
        .svc
        .http
        .get(f.svc.url("/api/v1/things-broken"))
        .send()
        .await?;
    let (status, body) = problem(res).await?;
    assert_eq!(status, 500);
    let text = body.to_string();
    assert!(
        !text.contains("no_such_table") && !text.contains("secret_column"),
        "{text}"
    );

    let ok = post_raw(
        &f,
        r#"{"name": "a", "quantity": 1}"#,
        Some("application/json"),
    )
    .await?;
    assert_eq!(ok.status(), 201);
    let dup = post_raw(
        &f,
        r#"{"name": "a", "quantity": 2}"#,
        Some("application/json"),
    )
    .await?;
    let (status, body) = problem(dup).await?;
    assert_eq!(status, 409);
    assert_eq!(body["detail"], "a thing with this name exists");

    let res = f
        .svc
        .http
        .get(f.svc.url("/api/v1/things-panic"))
        .send()
        .await?;
    let (status, _) = problem(res).await?;
    assert_eq!(status, 500);
    // The service still answers after a panic.
    assert_eq!(
        f.svc
            .http
            .get(f.svc.url("/healthz/live"))
            .send()
            .await?
            .status(),
        200
    );
    Ok(())
}

#[tokio::test]
async fn tokens_are_required_and_tenants_are_isolated() -> anyhow::Result<()> {
    let f = fixture().await?;
    let created: Thing = post_raw(
        &f,
        r#"{"name": "mine", "quantity": 3}"#,
        Some("application/json"),
    )
    .await?
    .json()
    .await?;
    let url = f.svc.url(&format!("/api/v1/things/{}", created.id));

    let res = f.svc.http.get(&url).send().await?;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(res).await?.0, 401);
    let res = f
        .svc
        .http
        .get(&url)
        .bearer_auth("not.a.token")
        .send()
        .await?;
    assert_eq!(problem(res).await?.0, 401);

    let mine: Thing = f
        .svc
        .http
        .get(&url)
        .bearer_auth(&f.token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(mine.quantity, 3);

    let other = f.svc.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let res = f.svc.http.get(&url).bearer_auth(&other).send().await?;
    assert_eq!(
        problem(res).await?.0,
        404,
        "another tenant's id gets nothing"
    );
    assert_ne!(f.org, Uuid::nil());
    Ok(())
}
