//! Trust boundaries inside the cluster: the edge's signed headers, per-caller credentials with
//! allow-lists, metrics on their own port, and each service's own Redis key space.
use kit::{
    auth::EdgeKey,
    cache::{self, Limit, Subject},
    tonic,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::sample::SERVICE as THINGS;
use uuid::Uuid;

/// A caller's development credential, as the service generated it into its state directory.
pub fn credential(svc: &testkit::Spawned, caller: &str) -> anyhow::Result<String> {
    let path = svc
        .shared
        .config
        .dev_secret_path(&format!("internal-credential-{caller}"));
    Ok(std::fs::read_to_string(path)?.trim().to_string())
}

async fn whoami(req: testkit::Request<'_>) -> Value {
    req.expect(200).await
}

#[tokio::test]
async fn forged_agent_permissions_sent_straight_to_a_service_are_ignored() -> anyhow::Result<()> {
    let svc = testkit::Svc::start(&THINGS).await?;
    let agent = Uuid::new_v4();
    let mut claims = kit::auth::Claims::agent(Uuid::new_v4(), agent, &["sales_agent"]);
    claims
        .permissions
        .insert("research".into(), vec!["read".into()]);
    let token = svc.tokens.signer.issue(claims)?;
    let forged = r#"{"platform_admin":["all"],"assisted_signup":["create"]}"#;
    let own = json!({"research": ["read"]});

    // Straight from a pod, unsigned: the token's own permissions.
    let got = whoami(
        svc.get("/api/v1/things-whoami")
            .bearer(&token)
            .header("x-agent-id", &agent.to_string())
            .header("x-agent-permissions", forged)
            .unsigned(),
    )
    .await;
    assert_eq!(got["permissions"], own, "unsigned headers are ignored");

    // Signed with a key other than the edge's: ignored too.
    let other = EdgeKey::new(&[7u8; 32])?;
    let headers = vec![
        ("x-agent-id".to_string(), agent.to_string()),
        ("x-agent-permissions".to_string(), forged.to_string()),
    ];
    let mut req = svc.get("/api/v1/things-whoami").bearer(&token).unsigned();
    for (k, v) in headers.iter().chain(
        testkit::client::edge_headers(
            &other,
            "GET",
            "/api/v1/things-whoami",
            &headers,
            Some(&token),
        )
        .iter(),
    ) {
        req = req.header(k, v);
    }
    assert_eq!(whoami(req).await["permissions"], own);

    // The edge's signature over another token's request, replayed with this token: ignored.
    let stolen = testkit::client::edge_headers(
        svc.shared.edge.as_ref().expect("development edge key"),
        "GET",
        "/api/v1/things-whoami",
        &headers,
        Some("someone-elses-token"),
    );
    let mut req = svc.get("/api/v1/things-whoami").bearer(&token).unsigned();
    for (k, v) in headers.iter().chain(stolen.iter()) {
        req = req.header(k, v);
    }
    assert_eq!(whoami(req).await["permissions"], own);

    // Through the edge (signed with its key): the injected, current permissions apply.
    let got = whoami(
        svc.get("/api/v1/things-whoami")
            .bearer(&token)
            .header("x-agent-id", &agent.to_string())
            .header("x-agent-permissions", r#"{"assisted_signup":["create"]}"#),
    )
    .await;
    assert_eq!(got["permissions"], json!({"assisted_signup": ["create"]}));
    Ok(())
}

#[tokio::test]
async fn a_spoofed_forwarded_for_without_the_edge_signature_is_not_the_client_address()
-> anyhow::Result<()> {
    let svc = testkit::Svc::new(testkit::spawn(&THINGS).await?);
    let token = svc.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    // Unsigned: the socket peer, whatever the header says (lockouts and per-address limits
    // read this address).
    let got = svc
        .get("/api/v1/things-whoami")
        .bearer(&token)
        .header("x-forwarded-for", "198.51.100.23")
        .unsigned()
        .expect(200)
        .await;
    assert_eq!(got["client_ip"], "127.0.0.1");
    // A forged signature does not help.
    let got = svc
        .get("/api/v1/things-whoami")
        .bearer(&token)
        .header("x-forwarded-for", "198.51.100.23")
        .header("x-fleet-edge-time", &kit::auth::edge::now().to_string())
        .header("x-fleet-edge-signature", &"0".repeat(64))
        .unsigned()
        .expect(200)
        .await;
    assert_eq!(got["client_ip"], "127.0.0.1");
    // From the edge: the right-most entry, the one the edge appended.
    let got = svc
        .get("/api/v1/things-whoami")
        .bearer(&token)
        .header("x-forwarded-for", "192.0.2.1, 198.51.100.23")
        .expect(200)
        .await;
    assert_eq!(got["client_ip"], "198.51.100.23");
    Ok(())
}

#[tokio::test]
async fn a_caller_credential_outside_its_allow_list_is_refused() -> anyhow::Result<()> {
    let spawned = testkit::spawn(&THINGS).await?;
    let reporter = credential(&spawned, "reporter")?;
    let auditor = credential(&spawned, "auditor")?;
    let svc = testkit::Svc::new(spawned);

    let ok = svc
        .get("/api/v1/things-internal")
        .bearer(&reporter)
        .expect(200)
        .await;
    assert_eq!(ok["caller"], "reporter");
    let denied = svc
        .get("/api/v1/things-internal")
        .bearer(&auditor)
        .expect_problem(403)
        .await;
    assert!(
        denied["detail"]
            .as_str()
            .is_some_and(|d| d.contains("auditor") && d.contains("/api/v1/things-internal")),
        "{denied}"
    );
    for bad in ["not-a-credential-of-anyone-0123456789abcdef", ""] {
        svc.get("/api/v1/things-internal")
            .bearer(bad)
            .expect_problem(401)
            .await;
    }
    // A client token is not an internal credential.
    let client = svc.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    svc.get("/api/v1/things-internal")
        .bearer(&client)
        .expect_problem(401)
        .await;

    // gRPC: the method is checked against the grant before any handler runs.
    let channel = tonic::transport::Channel::from_shared(svc.grpc.clone())?
        .connect()
        .await?;
    assert!(reflect(channel.clone(), Some(&reporter)).await.is_ok());
    let code = |r: Result<(), tonic::Status>| r.expect_err("refused").code();
    assert_eq!(
        code(reflect(channel.clone(), Some(&auditor)).await),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        code(reflect(channel.clone(), None).await),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        code(reflect(channel.clone(), Some(&client)).await),
        tonic::Code::Unauthenticated
    );
    // Health answers without a credential (probes).
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(())
}

/// One reflection call (`ListServices`) with `token`.
async fn reflect(
    channel: tonic::transport::Channel,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut call = tonic::Request::new(futures::stream::iter(vec![req]));
    if let Some(t) = token {
        call.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("ascii"),
        );
    }
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(call)
        .await?
        .into_inner();
    stream.message().await?;
    Ok(())
}

#[tokio::test]
async fn metrics_are_absent_from_the_api_port_and_served_on_their_own() -> anyhow::Result<()> {
    let svc = testkit::spawn(&THINGS).await?;
    let api = svc.http.get(svc.url("/metrics")).send().await?;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let body = api.text().await?;
    assert!(!body.contains("http_requests_total"), "{body}");
    let own = svc.http.get(&svc.metrics).send().await?;
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.text().await?.contains("http_requests_total"));
    // The metrics port serves nothing else.
    let other = svc
        .http
        .get(svc.metrics.replace("/metrics", "/openapi.json"))
        .send()
        .await?;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_services_cache_writes_go_under_its_own_prefix() -> anyhow::Result<()> {
    let svc = testkit::spawn(&THINGS).await?;
    let ctx = svc.shared.ctx(
        &THINGS,
        svc.db.app.clone(),
        kit::metrics::Metrics::new("things"),
        true,
    )?;
    let ns = svc.shared.config.redis_namespace().to_string();
    assert_eq!(ctx.keys.prefix(), format!("{ns}things:"));
    ctx.limiter
        .check("login", Subject::Ip("192.0.2.5"), Limit::per_minute(5))
        .await?;
    let mut conn = svc.shared.redis.get().await?;
    let keys: Vec<String> = cache::redis::cmd("KEYS")
        .arg(format!("{ns}*"))
        .query_async(&mut conn)
        .await?;
    assert!(!keys.is_empty(), "the limiter wrote its counter");
    for k in &keys {
        assert!(
            k.starts_with(&format!("{ns}things:")),
            "{k} is outside the service's prefix"
        );
    }
    assert!(
        keys.iter()
            .any(|k| k == &format!("{ns}things:rl:login:ip:192.0.2.5"))
    );
    Ok(())
}
