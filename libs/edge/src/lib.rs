//! `fleet gateway`: a development stand-in for Kong. It serves `deploy/kong/kong.yaml` — the
//! file production Kong loads — with Kong's routing and the semantics of the plugins that file
//! uses (jwt, agent-permissions, rate-limiting, correlation-id, request-size-limiting, cors,
//! prometheus, request-termination), and refuses to start on anything else in it. Production
//! runs Kong; this exists so `make run`, the end-to-end journeys and the benchmarks pass
//! through the same edge rules on a machine without Kong.
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use kit::events::CancellationToken;
use kit::{auth::Verifier, cache::Pool};
use serde_json::json;

pub mod agent;
pub mod config;
mod cors;
pub mod jwt;
mod linger;
mod metrics;
mod proxy;
pub mod ratelimit;
pub mod router;
mod ttl;

use config::{ConfigError, ORDER, Plugin};

/// What the gateway is built from.
pub struct Options {
    /// The text of kong.yaml.
    pub kong_yaml: String,
    /// Upstream host names (`org-auth`) → where that service listens here.
    pub upstreams: HashMap<String, SocketAddr>,
    pub redis: Pool,
    /// Keeps counters of separate fleets (tests) sharing one Redis apart.
    pub namespace: String,
    /// The fleet's JWKS (org-auth), whose keys stand in for kong.yaml's placeholder credential.
    pub jwks: Option<Verifier>,
    /// Resolves `{vault://env/<name>}` references (Kong's env vault).
    pub vault: HashMap<String, String>,
}

struct Instance {
    plugin: Plugin,
    /// The counters' scope (rate-limiting): the entity the instance is attached to.
    scope: String,
    /// agent-permissions: the lookup URL with its host mapped, and the service credential.
    lookup: Option<(String, String)>,
    /// agent-permissions: the key it signs with.
    signing: Option<kit::auth::EdgeKey>,
}

pub(crate) struct RouteRt {
    name: String,
    service: String,
    upstream: SocketAddr,
    read_timeout: Duration,
    /// Kong's `retries`: further attempts after a failure to connect.
    retries: u32,
    /// A client per `connect_timeout` (connections are pooled per client).
    client: Client<HttpConnector, Body>,
    plugins: Vec<Instance>,
}

pub struct Gateway {
    router: router::Router,
    routes: Vec<RouteRt>,
    keys: jwt::Keys,
    limiter: ratelimit::Limiter,
    checker: agent::Checker,
    metrics: metrics::Metrics,
}

fn client(connect_timeout: Duration) -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

fn resolve_vault(v: &str, vault: &HashMap<String, String>) -> Result<String, ConfigError> {
    match v
        .strip_prefix("{vault://env/")
        .and_then(|r| r.strip_suffix('}'))
    {
        Some(name) => vault
            .get(name)
            .cloned()
            .ok_or_else(|| ConfigError(format!("vault reference {v}: {name} is not set"))),
        None => Ok(v.to_string()),
    }
}

/// The plugin's `edge_key` as the services read `FLEET_EDGE_KEY_FILE`: the text, trimmed.
fn edge_key(text: &str) -> Result<kit::auth::EdgeKey, ConfigError> {
    kit::auth::EdgeKey::new(text.trim().as_bytes())
        .map_err(|e| ConfigError(format!("agent-permissions edge_key: {e}")))
}

/// `http://human-agent:8080/...` with the host mapped to where the service listens here.
fn map_url(
    url: &str,
    upstreams: &HashMap<String, SocketAddr>,
) -> Result<(String, SocketAddr), ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ConfigError(format!("{url}: only http:// upstreams are implemented")))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.split(':').next().unwrap_or_default();
    let addr = upstreams
        .get(host)
        .copied()
        .ok_or_else(|| ConfigError(format!("{url}: {host} is not a fleet service")))?;
    Ok((format!("http://{addr}{path}"), addr))
}

impl Gateway {
    pub fn new(o: Options) -> Result<Gateway, ConfigError> {
        let d = config::load(&o.kong_yaml)?;
        let mut global = Vec::new();
        for p in d.plugins.iter().filter(|p| p.enabled) {
            global.push(Plugin::from_entity("global", p)?);
        }
        let mut routes = Vec::new();
        let mut specs = Vec::new();
        let mut clients: HashMap<u64, Client<HttpConnector, Body>> = HashMap::new();
        for s in &d.services {
            let (_, upstream) = map_url(&s.url, &o.upstreams)?;
            let mut service_plugins = Vec::new();
            for p in s.plugins.iter().filter(|p| p.enabled) {
                service_plugins.push(Plugin::from_entity(&format!("service {}", s.name), p)?);
            }
            for r in &s.routes {
                let mut route_plugins = Vec::new();
                for p in r.plugins.iter().filter(|p| p.enabled) {
                    route_plugins.push(Plugin::from_entity(&format!("route {}", r.name), p)?);
                }
                // The most specific instance of each plugin applies: route, then service, then global.
                let mut plugins = Vec::new();
                for name in ORDER {
                    let found = route_plugins
                        .iter()
                        .find(|p| p.name() == name)
                        .map(|p| (p, format!("route:{}", r.name)))
                        .or_else(|| {
                            service_plugins
                                .iter()
                                .find(|p| p.name() == name)
                                .map(|p| (p, format!("service:{}", s.name)))
                        })
                        .or_else(|| {
                            global
                                .iter()
                                .find(|p| p.name() == name)
                                .map(|p| (p, "global".to_string()))
                        });
                    if let Some((p, scope)) = found {
                        let (lookup, signing) = match p {
                            Plugin::AgentPermissions(c) => (
                                Some((
                                    map_url(&c.permissions_url, &o.upstreams)?.0,
                                    resolve_vault(&c.service_token, &o.vault)?,
                                )),
                                Some(edge_key(&resolve_vault(&c.edge_key, &o.vault)?)?),
                            ),
                            _ => (None, None),
                        };
                        plugins.push(Instance {
                            plugin: p.clone(),
                            scope,
                            lookup,
                            signing,
                        });
                    }
                }
                routes.push(RouteRt {
                    name: r.name.clone(),
                    service: s.name.clone(),
                    upstream,
                    read_timeout: Duration::from_millis(s.read_timeout),
                    retries: s.retries,
                    client: clients
                        .entry(s.connect_timeout)
                        .or_insert_with(|| client(Duration::from_millis(s.connect_timeout)))
                        .clone(),
                    plugins,
                });
                specs.push((r.methods.clone(), r.paths.clone(), r.regex_priority));
            }
        }
        let names: Vec<String> = routes.iter().map(|r| r.name.clone()).collect();
        let router = router::Router::new(
            &specs
                .iter()
                .map(|(m, p, rp)| router::RouteSpec {
                    methods: m,
                    paths: p,
                    regex_priority: *rp,
                })
                .collect::<Vec<_>>(),
            &names,
        )?;
        let keys = jwt::Keys::new(&d, o.jwks.map(|v| (v, issuer_consumer(&d))))?;
        Ok(Gateway {
            router,
            routes,
            keys,
            limiter: ratelimit::Limiter::new(o.redis, &o.namespace),
            checker: agent::Checker::new(),
            metrics: metrics::Metrics::default(),
        })
    }

    /// The proxy (all paths), served on a `linger::Lingering` listener (`ConnectInfo<Peer>`).
    fn proxy_router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// The status listener: `/metrics` (Prometheus) and `/status`.
    pub fn status_router(self: &Arc<Self>) -> Router {
        let g = self.clone();
        Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let g = g.clone();
                    async move {
                        (
                            [(
                                header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            g.metrics.render(),
                        )
                    }
                }),
            )
            .route(
                "/status",
                axum::routing::get(|| async { axum::Json(json!({"status": "ok"})) }),
            )
    }

    /// Serves until `stop` is cancelled.
    pub async fn serve(
        self: Arc<Self>,
        proxy: tokio::net::TcpListener,
        status: Option<tokio::net::TcpListener>,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        if let Some(l) = status {
            let app = self.status_router();
            let stop = stop.clone();
            tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
            });
        }
        let app = self.proxy_router();
        axum::serve(
            linger::Lingering(proxy),
            app.into_make_service_with_connect_info::<linger::Peer>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await?;
        Ok(())
    }
}

/// The consumer the JWKS keys belong to: the one holding jwt credentials (the token issuer).
fn issuer_consumer(d: &config::Declarative) -> String {
    d.consumers
        .iter()
        .find(|c| !c.jwt_secrets.is_empty())
        .map(|c| c.username.clone())
        .unwrap_or_else(|| "org-auth-token-issuer".into())
}

/// An answer made at the edge: RFC 9457 problem+json, plus the headers plugins added so far.
fn edge(
    status: u16,
    detail: &str,
    correlation: Option<&str>,
    extra: &[(String, String)],
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The services' problem shape; `about:blank` as the Kong plugin answers (the title is the
    // status phrase, RFC 9457 §4.2.1).
    let body = kit::ProblemBody {
        type_: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: detail.into(),
        correlation_id: correlation.map(String::from),
        errors: Vec::new(),
        retry_after: None,
    };
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    add_headers(res.headers_mut(), extra);
    res
}

fn add_headers(h: &mut HeaderMap, extra: &[(String, String)]) {
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            h.append(k, v);
        }
    }
}

pub(crate) fn set(h: &mut HeaderMap, k: &str, v: &str) {
    if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
        h.insert(k, v);
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn handle(
    State(g): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<linger::Peer>,
    req: Request<Body>,
) -> Response {
    let started = Instant::now();
    // A body dropped unread makes the connection linger on close, so the client reads the answer.
    let req = req.map(|b| peer.track(b));
    let (route, res, upstream_ms) = run(&g, peer.addr, req).await;
    let total = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(r) = route {
        let r = &g.routes[r];
        g.metrics.observe(
            &r.service,
            &r.name,
            res.status().as_u16(),
            total,
            upstream_ms,
        );
    }
    res
}

/// The request through the route's plugins and to its upstream: (route, response, upstream ms).
async fn run(
    g: &Gateway,
    peer: SocketAddr,
    req: Request<Body>,
) -> (Option<usize>, Response, Option<f64>) {
    let (mut parts, body) = req.into_parts();
    let Some(ri) = g.router.find(parts.method.as_str(), parts.uri.path()) else {
        return (
            None,
            edge(404, "no Route matched with those values", None, &[]),
            None,
        );
    };
    let route = &g.routes[ri];
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut correlation: Option<String> = None;
    let mut verified: Option<Arc<jwt::Verified>> = None;
    let mut body = Some(body);
    let client_ip = peer.ip().to_string();
    // An answer made here leaves the request body unread: the connection is closed after it,
    // so that the client does not send its next request behind the rest of this body, and it
    // lingers (reads and discards what is still coming, see `linger`) before closing, so that
    // the client reads the answer instead of a reset (as nginx does for Kong's early answers).
    let unread_body = parts.headers.contains_key(header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let deny =
        |status: u16, detail: &str, correlation: &Option<String>, extra: &[(String, String)]| {
            let mut res = edge(status, detail, correlation.as_deref(), extra);
            if unread_body {
                res.headers_mut()
                    .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
            }
            (Some(ri), res, None)
        };
    for inst in &route.plugins {
        match &inst.plugin {
            Plugin::CorrelationId(c) => {
                let id = parts
                    .headers
                    .get(c.header_name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
                    .map(String::from)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                set(&mut parts.headers, &c.header_name, &id);
                if c.echo_downstream {
                    extra.push((c.header_name.clone(), id.clone()));
                }
                correlation = Some(id);
            }
            Plugin::Cors(c) => match cors::apply(c, &parts.method, &parts.headers) {
                cors::Outcome::NotCors => {}
                cors::Outcome::Headers(h) => extra.extend(h),
                cors::Outcome::Preflight(h) => {
                    extra.extend(h);
                    let mut res = StatusCode::OK.into_response();
                    add_headers(res.headers_mut(), &extra);
                    return (Some(ri), res, None);
                }
            },
            Plugin::Jwt(c) => {
                if parts.method == Method::OPTIONS && !c.run_on_preflight {
                    continue;
                }
                match g.keys.verify(c, &parts.headers, now()).await {
                    Ok(v) => {
                        set(&mut parts.headers, "x-consumer-username", &v.consumer);
                        set(&mut parts.headers, "x-credential-identifier", &v.credential);
                        parts.headers.remove("x-anonymous-consumer");
                        verified = Some(v);
                    }
                    Err(m) => return deny(401, m, &correlation, &extra),
                }
            }
            Plugin::AgentPermissions(c) => {
                agent::strip(&mut parts.headers, c.subject_header.as_deref());
                let (url, token) = inst
                    .lookup
                    .as_ref()
                    .map(|(u, t)| (u.as_str(), t.as_str()))
                    .unwrap_or_default();
                match g
                    .checker
                    .decide(c, verified.as_ref().map(|v| &v.claims), url, token)
                    .await
                {
                    agent::Decision::Proceed(h) => {
                        for (k, v) in h {
                            set(&mut parts.headers, &k, &v);
                        }
                        if let Some(key) = &inst.signing {
                            let forwarded = agent::forwarded_for(&parts.headers, &client_ip);
                            let (method, path) =
                                (parts.method.to_string(), parts.uri.path().to_string());
                            agent::sign(key, &method, &path, &mut parts.headers, &forwarded, now());
                        }
                    }
                    agent::Decision::Deny(status, _, detail) => {
                        return deny(status, &detail, &correlation, &extra);
                    }
                }
            }
            Plugin::RequestSizeLimiting(c) => {
                let unit: u64 = match c.size_unit.as_str() {
                    "megabytes" => 1 << 20,
                    "kilobytes" => 1 << 10,
                    _ => 1,
                };
                let limit = c.allowed_payload_size.saturating_mul(unit);
                let declared = parts
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                match declared {
                    Some(n) if n > limit => {
                        return deny(413, "Request size limit exceeded", &correlation, &extra);
                    }
                    Some(_) => {}
                    None if c.require_content_length => {
                        return deny(
                            411,
                            "A valid Content-Length header is required",
                            &correlation,
                            &extra,
                        );
                    }
                    None => {
                        // A body without a length (chunked) is read up to the limit, as Kong does.
                        let b = body.take().unwrap_or_default();
                        let limited = http_body_util::Limited::new(
                            b,
                            usize::try_from(limit).unwrap_or(usize::MAX),
                        );
                        match limited.collect().await {
                            Ok(c) => body = Some(Body::from(c.to_bytes())),
                            Err(_) => {
                                return deny(
                                    413,
                                    "Request size limit exceeded",
                                    &correlation,
                                    &extra,
                                );
                            }
                        }
                    }
                }
            }
            Plugin::RateLimiting(c) => {
                let header_value = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .filter(|v| !v.is_empty())
                        .map(String::from)
                };
                // Kong falls back to the client address when the chosen identity is absent.
                let identifier = match c.limit_by.as_str() {
                    "header" => c.header_name.as_deref().and_then(header_value),
                    "consumer" => verified.as_ref().map(|v| v.consumer.clone()),
                    "credential" => verified.as_ref().map(|v| v.credential.clone()),
                    "service" => Some(route.service.clone()),
                    _ => None,
                }
                .unwrap_or_else(|| client_ip.clone());
                match g.limiter.check(c, &inst.scope, &identifier, now()).await {
                    Ok(ratelimit::Outcome::Allowed(h)) => extra.extend(h),
                    Ok(ratelimit::Outcome::Refused(wait, h)) => {
                        extra.extend(h);
                        extra.push(("Retry-After".into(), wait.to_string()));
                        return deny(429, "API rate limit exceeded", &correlation, &extra);
                    }
                    Err(e) if c.fault_tolerant => {
                        tracing::warn!(error = %e, "rate-limiting counters unavailable; request let through (fault_tolerant)");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "rate-limiting counters unavailable");
                        return deny(500, "An unexpected error occurred", &correlation, &extra);
                    }
                }
            }
            Plugin::Prometheus(_) => {}
            Plugin::RequestTermination(t) => {
                let status =
                    StatusCode::from_u16(t.status_code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let mut res = match (&t.body, &t.message) {
                    (Some(b), _) => (
                        status,
                        [(
                            header::CONTENT_TYPE,
                            t.content_type
                                .clone()
                                .unwrap_or_else(|| "application/json".into()),
                        )],
                        b.clone(),
                    )
                        .into_response(),
                    (None, m) => (
                        status,
                        [(header::CONTENT_TYPE, "application/json".to_string())],
                        json!({"message": m.clone().unwrap_or_default()}).to_string(),
                    )
                        .into_response(),
                };
                add_headers(res.headers_mut(), &extra);
                return (Some(ri), res, None);
            }
        }
    }

    let body = body.unwrap_or_default();
    match proxy::forward(route, parts, body, &client_ip).await {
        Ok((res, upstream_ms)) => {
            let (mut rp, rb) = res.into_parts();
            add_headers(&mut rp.headers, &extra);
            let res = Response::from_parts(rp, Body::new(rb.map_err(axum::Error::new)));
            (Some(ri), res, Some(upstream_ms))
        }
        Err((status, detail, upstream_ms)) => (
            Some(ri),
            edge(status, detail, correlation.as_deref(), &extra),
            upstream_ms,
        ),
    }
}
