//! The gateway serving the real deploy/kong/kong.yaml in front of org-auth and human-agent
//! (real PostgreSQL, Redis, Kafka): what the edge refuses, and what it lets through.
use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use edge::{Gateway, Options};
use kit::auth::{Claims, Signer, SigningKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

mod early_answers;

const CRED: &str = "internal-credential-for-gateway-tests-0123456789";
/// The key the gateway signs with and both services verify with.
const EDGE_KEY: &str = "edge-key-for-gateway-tests-0123456789abcdef";

/// A file holding [`EDGE_KEY`] (mode 600), for the services' `FLEET_EDGE_KEY_FILE`.
fn edge_key_file() -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::temp_dir().join(testkit::unique("edge-key"));
    std::fs::write(&path, EDGE_KEY).expect("edge key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.to_string_lossy().into_owned()
}

/// Every upstream host kong.yaml names (`http://<host>:8080`), answering nothing.
fn nowhere() -> HashMap<String, SocketAddr> {
    kong_yaml()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("url: http://"))
        .filter_map(|u| u.split(':').next())
        .map(|h| (h.to_string(), SocketAddr::from(([127, 0, 0, 1], 9))))
        .collect()
}

fn kong_yaml() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kong/kong.yaml"
    ))
    .expect("kong.yaml")
}

struct Edge {
    /// Kept running for the test's length (the gateway proxies to it).
    #[allow(dead_code)]
    org_auth: testkit::Spawned,
    agents: testkit::Spawned,
    tokens: testkit::Tokens,
    base: String,
    status: String,
    http: reqwest::Client,
}

fn options(
    upstreams: HashMap<String, SocketAddr>,
    tokens: &testkit::Tokens,
) -> anyhow::Result<Options> {
    Ok(Options {
        kong_yaml: kong_yaml(),
        upstreams,
        redis: kit::cache::connect(&testkit::redis_url(), 8)?,
        namespace: format!("{}:", testkit::unique("gw")),
        jwks: Some(tokens.verifier.clone()),
        vault: HashMap::from([
            ("fleet-kong-credential".to_string(), CRED.to_string()),
            ("fleet-edge-key".to_string(), EDGE_KEY.to_string()),
        ]),
    })
}

async fn edge() -> anyhow::Result<Edge> {
    let tokens = testkit::Tokens::new()?;
    let ns = format!("{}_", testkit::unique("edge"));
    let key = edge_key_file();
    let org_auth = testkit::spawn_with_tokens(
        &org_auth::SERVICE,
        &[
            ("FLEET_KAFKA_NAMESPACE", &ns),
            ("FLEET_INTERNAL_TOKEN", CRED),
            ("FLEET_EDGE_KEY_FILE", &key),
        ],
        tokens.clone(),
    )
    .await?;
    let grpc = org_auth.grpc.clone();
    let agents = testkit::spawn_with_tokens(
        &human_agent::SERVICE,
        &[
            ("FLEET_KAFKA_NAMESPACE", &ns),
            ("FLEET_INTERNAL_TOKEN", CRED),
            ("FLEET_EDGE_KEY_FILE", &key),
            ("ORG_AUTH_GRPC_URL", &grpc),
        ],
        tokens.clone(),
    )
    .await?;
    // Services not running here answer "connection refused" (a 502 at the edge).
    let mut upstreams: HashMap<String, SocketAddr> = nowhere();
    upstreams.insert("org-auth".into(), org_auth.fleet.services[0].http);
    upstreams.insert("human-agent".into(), agents.fleet.services[0].http);
    let gw = Arc::new(Gateway::new(options(upstreams, &tokens)?)?);
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let status = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (base, status_url) = (
        format!("http://{}", proxy.local_addr()?),
        format!("http://{}", status.local_addr()?),
    );
    tokio::spawn(gw.serve(proxy, Some(status), kit::events::CancellationToken::new()));
    Ok(Edge {
        org_auth,
        agents,
        tokens,
        base,
        status: status_url,
        http: reqwest::Client::new(),
    })
}

impl Edge {
    async fn call(
        &self,
        m: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, Value)> {
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await?;
        let (st, h) = (res.status(), res.headers().clone());
        let text = res.text().await?;
        Ok((
            st,
            h,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// A platform admin (profile written as `fleet admin` does) and its token.
    async fn platform_admin(&self) -> anyhow::Result<String> {
        let (user, agent) = (Uuid::new_v4(), Uuid::new_v4());
        let mut tx = kit::store::begin(&self.agents.db.app, kit::store::Scope::system()).await?;
        sqlx::query(
            "INSERT INTO agent_profiles (agent_id, user_id, email, full_name, primary_role, roles, permissions, max_capacity) \
             VALUES ($1, $2, $3, 'Admin', 'platform_admin', ARRAY['platform_admin'], '{}'::jsonb, 1)",
        )
        .bind(agent)
        .bind(user)
        .bind(format!("admin.{}@workflow.test", agent.simple()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(self.tokens.agent(user, agent, &["platform_admin"]))
    }
}

fn problem(st: StatusCode, h: &reqwest::header::HeaderMap, body: &Value) {
    assert_eq!(
        h.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{st} {body}"
    );
    assert_eq!(body["status"], json!(st.as_u16()), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn the_edge_refuses_bad_tokens_internal_paths_oversized_bodies_and_bursts()
-> anyhow::Result<()> {
    let e = edge().await?;
    let me = "/api/v1/auth/me?organizations=false";

    // No route.
    let (st, h, b) = e.call(Method::GET, "/nowhere", None, None, &[]).await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    problem(st, &h, &b);

    // A valid token passes, with a correlation id generated and echoed (or the client's kept).
    let token = e.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let (st, h, b) = e.call(Method::GET, me, Some(&token), None, &[]).await?;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        h.get("via").and_then(|v| v.to_str().ok()),
        Some("1.1 fleet-gateway")
    );
    assert!(h.get("x-correlation-id").is_some());
    assert!(
        h.get("ratelimit-remaining").is_some(),
        "the service's general limit is counted"
    );
    let (_, h, _) = e
        .call(
            Method::GET,
            me,
            Some(&token),
            None,
            &[("X-Correlation-ID", "corr-123")],
        )
        .await?;
    assert_eq!(
        h.get("x-correlation-id").and_then(|v| v.to_str().ok()),
        Some("corr-123")
    );

    // A service that is not running: 502 after the configured retry, as problem+json.
    let (st, h, b) = e
        .call(
            Method::GET,
            "/api/v1/research/anything",
            Some(&token),
            None,
            &[],
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{b}");
    problem(st, &h, &b);

    // Missing, forged, expired, alg-none tokens: 401 at the edge, never proxied.
    let kid = e.tokens.signer.active_kid().to_string();
    let forger = Signer::new(
        vec![SigningKey::from_pem(
            SigningKey::generate_pem()?.as_bytes(),
            Some(kid),
        )?],
        "https://auth.workflow.com",
        "workflow-platform",
        Duration::from_secs(900),
    )?;
    let forged = forger.issue(Claims::client(
        Uuid::new_v4(),
        Some(Uuid::new_v4()),
        "admin",
    ))?;
    let mut old = Claims::client(Uuid::new_v4(), Some(Uuid::new_v4()), "admin");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    (old.iat, old.nbf, old.exp) = (now - 7200, now - 7200, now - 3600);
    let expired = e.tokens.signer.sign(&old)?;
    let parts: Vec<&str> = token.split('.').collect();
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","typ":"JWT"}"#
        ),
        parts[1]
    );
    for (what, t, detail) in [
        ("missing", None, "Unauthorized"),
        ("forged", Some(forged.as_str()), "Invalid signature"),
        ("expired", Some(expired.as_str()), "token expired"),
        (
            "alg none",
            Some(none.as_str()),
            "No mandatory 'kid' in claims",
        ),
        ("garbage", Some("not.a.token"), "Bad token; invalid JSON"),
    ] {
        let (st, h, b) = e.call(Method::GET, me, t, None, &[]).await?;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{what}: {b}");
        problem(st, &h, &b);
        assert_eq!(b["detail"], detail, "{what}");
        assert!(h.get("via").is_none(), "{what} was proxied");
    }

    // The permissions lookup is internal: refused even with the service credential.
    let path = format!("/api/v1/agents/{}/permissions", Uuid::new_v4());
    let (st, _, b) = e.call(Method::GET, &path, Some(CRED), None, &[]).await?;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");

    // Oversized bodies: declared, and streamed without a length.
    let big = "x".repeat(2 * 1024 * 1024);
    let (st, h, b) = e
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": big})),
            &[],
        )
        .await?;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    problem(st, &h, &b);
    assert_eq!(
        h.get("connection").and_then(|v| v.to_str().ok()),
        Some("close"),
        "the unread body must not precede the client's next request on this connection"
    );
    let chunks =
        futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024])));
    let res = e
        .http
        .post(format!("{}/api/v1/auth/signup", e.base))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Bursts: login allows 20 an hour per client address, then 429 with Retry-After.
    let login = json!({"email": "nobody@workflow-customer.com", "password": "wrong-password-123"});
    for i in 0..20 {
        let (st, _, b) = e
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(login.clone()),
                &[],
            )
            .await?;
        assert_ne!(st, StatusCode::TOO_MANY_REQUESTS, "request {i}: {b}");
    }
    let (st, h, b) = e
        .call(Method::POST, "/api/v1/auth/login", None, Some(login), &[])
        .await?;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{b}");
    problem(st, &h, &b);
    assert!(h.get("retry-after").is_some());
    assert_eq!(
        h.get("x-ratelimit-remaining-hour")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );

    // CORS preflight for an allowed origin is answered at the edge.
    let res = e
        .http
        .request(
            Method::OPTIONS,
            format!("{}/api/v1/organizations/x", e.base),
        )
        .header("Origin", "https://app.workflow.com")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.workflow.com")
    );
    let res = e
        .http
        .request(
            Method::OPTIONS,
            format!("{}/api/v1/organizations/x", e.base),
        )
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await?;
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // Metrics under Kong's names on the status listener.
    let metrics = e
        .http
        .get(format!("{}/metrics", e.status))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("kong_http_requests_total{service=\"svc-org-auth\",route=\"route-org-auth-login\",code=\"429\"} 1"), "{metrics}");
    Ok(())
}

#[tokio::test]
async fn agents_get_their_permissions_from_the_edge_and_spoofed_headers_are_dropped()
-> anyhow::Result<()> {
    let e = edge().await?;
    let admin = e.platform_admin().await?;
    let signup = json!({"client_email": format!("buyer.{}@acme-industrial.com", &Uuid::new_v4().simple().to_string()[..8]), "client_name": "Bea Buyer", "company_name": "Acme Industrial"});

    // A client forging the header the edge would set gets nothing from it.
    let client = e.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let (st, _, b) = e
        .call(
            Method::POST,
            "/api/v1/auth/assisted-signup",
            Some(&client),
            Some(signup.clone()),
            &[
                ("X-Agent-Permissions", r#"{"assisted_signup":["create"]}"#),
                ("X-Agent-ID", "x"),
            ],
        )
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["detail"], "This endpoint is for platform agents only.");

    // An agent unknown to human-agent is refused.
    let ghost = e
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["sales_agent"]);
    let (st, _, b) = e
        .call(
            Method::POST,
            "/api/v1/auth/assisted-signup",
            Some(&ghost),
            Some(signup.clone()),
            &[],
        )
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["detail"], "Unknown agent.");

    // A registered support specialist lacks assisted_signup.create: 403 at the edge.
    let email = format!(
        "agent.{}@workflow.test",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let (st, _, a) = e
        .call(Method::POST, "/api/v1/agents", Some(&admin), Some(json!({"email": email, "full_name": "Sam Support", "roles": ["support_specialist"], "max_capacity": 5})), &[])
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let id: Uuid = a["agent_id"].as_str().unwrap_or_default().parse()?;
    let user: Uuid = a["user_id"].as_str().unwrap_or_default().parse()?;
    let support = e.tokens.agent(user, id, &["support_specialist"]);
    let (st, _, b) = e
        .call(
            Method::POST,
            "/api/v1/auth/assisted-signup",
            Some(&support),
            Some(signup.clone()),
            &[("X-Agent-Permissions", r#"{"assisted_signup":["create"]}"#)],
        )
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["detail"], "Missing permission assisted_signup.create.");

    // Granting it takes effect once the edge's short cache (cache_ttl 5 s) has passed.
    let (st, _, b) = e
        .call(
            Method::PATCH,
            &format!("/api/v1/agents/{id}"),
            Some(&admin),
            Some(json!({"permissions": {"assisted_signup": ["create", "read"]}})),
            &[],
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{b}");
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let (st, _, b) = e
        .call(
            Method::POST,
            "/api/v1/auth/assisted-signup",
            Some(&support),
            Some(signup),
            &[],
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert!(
        b["claim_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("CLAIM-"))
    );

    // The platform admin passes by role.
    let (st, _, b) = e
        .call(
            Method::GET,
            "/api/v1/auth/assisted-accounts",
            Some(&admin),
            None,
            &[],
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{b}");
    Ok(())
}

#[test]
fn the_gateway_refuses_configuration_it_does_not_implement() {
    let tokens = testkit::Tokens::new().expect("tokens");
    let upstreams: HashMap<String, SocketAddr> = nowhere();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let _guard = rt.enter();
    let build = |yaml: String| {
        let mut o = options(upstreams.clone(), &tokens).expect("options");
        o.kong_yaml = yaml;
        Gateway::new(o).err().map(|e| e.to_string())
    };
    assert_eq!(build(kong_yaml()), None, "the real file is accepted");
    let cases = [
        (
            "  - name: prometheus\n",
            "  - name: ip-restriction\n",
            "ip-restriction is not implemented",
        ),
        (
            "      header_name: X-Correlation-ID\n",
            "      header_name: X-Correlation-ID\n      bogus: 1\n",
            "unknown field `bogus`",
        ),
        (
            "      uri_param_names: []\n",
            "      uri_param_names: [jwt]\n",
            "URI parameters",
        ),
        (
            "_format_version: \"3.0\"",
            "_format_version: \"2.1\"",
            "expected 3.x",
        ),
        (
            "    url: http://org-auth:8080\n",
            "    url: http://elsewhere:8080\n",
            "elsewhere is not a fleet service",
        ),
    ];
    for (from, to, expected) in cases {
        let yaml = kong_yaml().replacen(from, to, 1);
        assert_ne!(yaml, kong_yaml(), "the case applies: {from}");
        let e = build(yaml);
        assert!(
            e.as_deref().is_some_and(|e| e.contains(expected)),
            "{expected}: {e:?}"
        );
    }
    let mut o = options(upstreams.clone(), &tokens).expect("options");
    o.vault.clear();
    assert!(
        Gateway::new(o)
            .err()
            .is_some_and(|e| e.to_string().contains("fleet-kong-credential is not set"))
    );
}
