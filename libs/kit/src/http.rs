//! The HTTP side of every service: the middleware stack, the runtime's own endpoints and the
//! JSON extractor whose rejections are problem+json.
use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    body::Body,
    extract::{FromRequest, MatchedPath, Request, rejection::JsonRejection},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use http_body_util::BodyExt;
use problem::{CORRELATION_ID, Problem};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use utoipa::openapi::OpenApi;

use crate::{metrics::Metrics, readiness::Readiness};

pub static CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// A correlation id from a client is echoed only if it is short printable ASCII; otherwise
/// (or when absent) a new one is generated, so logs cannot be polluted through it.
fn correlation_from(req: &Request) -> String {
    req.headers()
        .get(&CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Correlation id, request span (continuing an incoming `traceparent`), access log and metrics.
async fn observe(
    axum::extract::State(metrics): axum::extract::State<Metrics>,
    req: Request,
    next: Next,
) -> Response {
    let cid = correlation_from(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!("request", %method, route = %route, correlation_id = %cid);
    crate::telemetry::continue_http_trace(&span, req.headers());
    let start = Instant::now();
    let mut res = CORRELATION_ID
        .scope(cid.clone(), next.run(req).instrument(span.clone()))
        .await;
    let status = res.status();
    let elapsed = start.elapsed();
    metrics
        .http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            method: method.to_string(),
            route: route.clone(),
            status: status.as_u16(),
        })
        .inc();
    metrics
        .http_latency
        .get_or_create(&crate::metrics::RouteLabels {
            method: method.to_string(),
            route,
        })
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), ms, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&cid) {
        res.headers_mut().insert(CORRELATION_HEADER.clone(), v);
    }
    res
}

/// Any error answer that is not problem+json yet (axum's extractor rejections, unknown routes,
/// wrong methods, body limits, timeouts) is rewritten as one. Server errors get a generic body.
async fn problem_json(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(problem::CONTENT_TYPE.as_bytes()));
    if is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let p = if status.is_server_error() {
        Problem::internal(format!("{status}: {text}"))
    } else {
        let detail = match status {
            StatusCode::NOT_FOUND => "no such resource".to_string(),
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this resource".to_string(),
            StatusCode::REQUEST_TIMEOUT => "the request took too long".to_string(),
            _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_string(),
            _ => text,
        };
        // A type of the catalogue the OpenAPI documents list, where one has this status.
        match problem::COMMON.iter().find(|t| t.status == status.as_u16()) {
            Some(t) => t.with(detail),
            None => Problem::new(status, "http", detail),
        }
    };
    let mut out = p.into_response();
    *out.status_mut() = status;
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

/// A panic in a handler becomes a logged 500 problem, not a dropped connection.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    Problem::internal(format!("handler panicked: {msg}")).into_response()
}

/// Verifies the edge's signature over its injected headers ([`auth::edge`]) and, when it
/// holds, makes what it attests available to the extractors ([`auth::Principal`],
/// [`ClientIp`]). Without a valid signature the headers are ignored, not refused: a request
/// straight from a peer is still served, as the token's own rights and from its socket peer.
async fn trust_edge(
    axum::extract::State(key): axum::extract::State<Option<auth::EdgeKey>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(key) = &key {
        let attested = key.verify(
            req.method().as_str(),
            req.uri().path(),
            req.headers(),
            auth::edge::now(),
        );
        if let Some(a) = attested {
            req.extensions_mut().insert(a);
        }
    }
    next.run(req).await
}

/// Everything a service's HTTP router is wrapped in.
pub struct HttpParts {
    pub internal: crate::grpc::InternalAuth,
    pub service: &'static str,
    pub summary: &'static str,
    /// The service's own problem types, listed in its OpenAPI document with the kit's.
    pub problems: &'static [problem::ProblemType],
    pub metrics: Metrics,
    pub readiness: Readiness,
    pub verifier: auth::Verifier,
    /// The key the edge signs with; `None` trusts no injected header.
    pub edge: Option<auth::EdgeKey>,
    pub body_limit: usize,
    pub timeout: std::time::Duration,
}

/// The metrics port's router: `/metrics` only (the API port does not serve it, so the
/// monitoring namespace is admitted to this port alone).
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.render(),
                )
            }
        }),
    )
}

/// Assembles a service's router: its own routes, `/healthz/*`, `/openapi.json` (the document
/// [`crate::openapi::document`] finishes, as `fleet openapi` prints it), then the middleware.
/// `/metrics` is on its own port ([`metrics_router`]).
pub fn assemble(routes: Router, openapi: OpenApi, p: HttpParts) -> Router {
    let openapi_json: Arc<String> =
        Arc::new(crate::openapi::document(openapi, p.service, p.summary, p.problems).to_string());
    let readiness = p.readiness.clone();
    let system = Router::new()
        .route("/healthz/live", get(|| async { "ok" }))
        .route(
            "/healthz/ready",
            get(move || {
                let r = readiness.clone();
                async move { r.respond().await }
            }),
        )
        .route(
            "/openapi.json",
            get(move || {
                let doc = openapi_json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.as_str().to_owned(),
                    )
                }
            }),
        );
    routes
        .merge(system)
        .layer(axum::Extension(p.verifier))
        .layer(axum::Extension(p.internal))
        .layer(middleware::from_fn_with_state(p.edge, trust_edge))
        .layer(axum::extract::DefaultBodyLimit::max(p.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            p.timeout,
        ))
        .layer(middleware::from_fn(problem_json))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn_with_state(p.metrics, observe))
}

/// `Json<T>` whose rejections name the problem: 415 without a JSON content type, 400 for
/// malformed JSON, 422 for a body that does not match `T` (the message names the field),
/// 413 over the body limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_problem(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| json_problem(JsonRejection::BytesRejection(e)))?;
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes).map_err(json_problem)?;
        // PostgreSQL's text and jsonb hold no NUL character, so a body that carries one would
        // fail at the database as a 500 (or be cut short) wherever a field is stored as it
        // came, JSON documents included. The type's own rules run first, so a field that
        // checks its text names its own problem; this catches the rest, in one place.
        if let Some(field) = nul_field(&bytes) {
            return Err(Problem::invalid(
                field,
                "must not contain a NUL character (\\u0000)",
            ));
        }
        Ok(Json(v))
    }
}

/// `application/json`, or any `application/…+json`, with or without parameters (as axum's
/// own extractor accepts).
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(v) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|sub| sub == "json" || (sub.ends_with("+json") && sub.len() > 5))
}

/// Where a JSON body holds a NUL character (the escape `\u0000`: JSON cannot carry a raw
/// one), as a field path (`schema`, `items[2].name`, `(body)` at the top); `None` when it
/// holds none. The scan is over the bytes, so a body without NUL costs one pass and no
/// allocation.
pub(crate) fn nul_field(body: &[u8]) -> Option<String> {
    if !has_nul_escape(body) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut path = String::new();
    nul_path(&value, &mut path).then(|| {
        if path.is_empty() {
            "(body)".to_string()
        } else {
            path
        }
    })
}

/// `\u0000` preceded by an odd run of backslashes (an even run is an escaped backslash
/// followed by the text `u0000`).
fn has_nul_escape(body: &[u8]) -> bool {
    let needle = b"u0000";
    let mut from = 0;
    while let Some(i) = body[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
    {
        let slashes = body[..i].iter().rev().take_while(|&&b| b == b'\\').count();
        if slashes % 2 == 1 {
            return true;
        }
        from = i + 1;
    }
    false
}

/// Appends the path of the first string or key holding NUL to `path`; true when found.
fn nul_path(v: &serde_json::Value, path: &mut String) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_path(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        serde_json::Value::Object(map) => map.iter().any(|(k, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            // A key that holds NUL is named by its printable part.
            path.push_str(&k.replace('\0', ""));
            let found = k.contains('\0') || nul_path(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_problem(r: JsonRejection) -> Problem {
    match r {
        JsonRejection::JsonDataError(e) => {
            // serde's message names the field or the unknown one: "missing field `email`",
            // "unknown field `x`", "invalid type: integer, expected a string at line 1 …".
            let msg = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text());
            invalid_from_serde(&msg)
        }
        JsonRejection::JsonSyntaxError(e) => Problem::bad_request(format!(
            "malformed JSON: {}",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text())
        )),
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "expected Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) => {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::too_large("request body is larger than the limit")
            } else {
                Problem::bad_request("the request body could not be read")
            }
        }
        other => Problem::bad_request(other.body_text()),
    }
}

/// A 422 naming the field of a serde message (`a.b: must be at most 5 characters at line 1
/// column 9` → field `a.b`, message `must be at most 5 characters`).
pub(crate) fn invalid_from_serde(msg: &str) -> Problem {
    let field = field_of(msg);
    // The detail names the field once ("a.b: unknown field …", not "a.b: a.b: …").
    let text = msg.strip_prefix(&format!("{field}: ")).unwrap_or(msg);
    Problem::invalid(field, strip_position(text))
}

/// serde_json appends the position of the error (` at line 1 column 30`): the field already
/// says where.
fn strip_position(msg: &str) -> String {
    if let Some(i) = msg.rfind(" at line ") {
        let tail = &msg[i + " at line ".len()..];
        let mut parts = tail.split(" column ");
        if let (Some(l), Some(c), None) = (parts.next(), parts.next(), parts.next())
            && l.bytes().all(|b| b.is_ascii_digit())
            && c.bytes().all(|b| b.is_ascii_digit())
        {
            return msg[..i].to_string();
        }
    }
    msg.to_string()
}

/// The field a serde message is about, when it says (`missing field `x``, `unknown field `x``,
/// or a path prefix like `a.b: …`), else `body`.
fn field_of(msg: &str) -> String {
    // serde_path_to_error prefixes the path of the failing value: "role: unknown variant …".
    if let Some((path, _)) = msg.split_once(": ")
        && !path.is_empty()
        && !path.contains(' ')
        && path != "."
    {
        return path.to_string();
    }
    if let Some(i) = msg.find("field `") {
        let rest = &msg[i + "field `".len()..];
        if let Some(j) = rest.find('`') {
            return rest[..j].to_string();
        }
    }
    "body".to_string()
}

/// Reads a body to bytes with a limit (for handlers that take raw bodies, e.g. webhooks whose
/// signature covers the exact bytes).
pub async fn body_bytes(body: Body, limit: usize) -> Result<bytes::Bytes, Problem> {
    let limited = http_body_util::Limited::new(body, limit);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| Problem::too_large("request body is larger than the limit"))
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn field_names_are_extracted() {
        assert_eq!(
            field_of("missing field `email` at line 1 column 2"),
            "email"
        );
        assert_eq!(field_of("unknown field `admin`, expected one of"), "admin");
        assert_eq!(field_of("role: unknown variant `boss`"), "role");
        assert_eq!(field_of("items[0].sku: invalid type"), "items[0].sku");
        assert_eq!(field_of("invalid type: integer"), "body");
        assert_eq!(
            super::strip_position("must be at most 5 characters at line 1 column 9"),
            "must be at most 5 characters"
        );
    }

    #[test]
    fn a_nul_character_is_found_wherever_it_is_and_named_by_its_path() {
        use super::nul_field;
        let at = |body: &str| nul_field(body.as_bytes());
        assert_eq!(at(r#"{"a": "x\u0000"}"#).as_deref(), Some("a"));
        assert_eq!(
            at(r#"{"a": {"b": [1, "ok", "\u0000"]}}"#).as_deref(),
            Some("a.b[2]")
        );
        assert_eq!(
            at(r#"{"schema": {"k\u0000ey": 1}}"#).as_deref(),
            Some("schema.key")
        );
        assert_eq!(at(r#""\u0000""#).as_deref(), Some("(body)"));
        // An escaped backslash followed by the text u0000 is no NUL; three backslashes are.
        assert_eq!(at(r#"{"a": "\\u0000"}"#), None);
        assert_eq!(at(r#"{"a": "\\\u0000"}"#).as_deref(), Some("a"));
        assert_eq!(
            at(r#"{"a": "u0000", "b": "\u00001"}"#).as_deref(),
            Some("b")
        );
        assert_eq!(at(r#"{"a": "plain"}"#), None);
    }
}

/// The client's address: the right-most `X-Forwarded-For` entry (the one the edge appended)
/// when the edge's signature over the header verified ([`auth::Attested`]), else the socket
/// peer. An unsigned `X-Forwarded-For` — from a client or a peer pod — is never used, so it
/// cannot move lockouts and per-address limits onto someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = parts
            .extensions
            .get::<auth::Attested>()
            .and_then(auth::Attested::client_ip)
            .map(|ip| ip.to_string());
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientIp(
            forwarded.or(peer).unwrap_or_else(|| "unknown".to_string()),
        ))
    }
}

/// The `User-Agent` header, bounded (for audit records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect()),
        ))
    }
}

/// An internal caller (Kong, a peer service) presenting its own credential, whose grant on this
/// service lists the route (`GET /api/v1/agents/{agent_id}/permissions`). Routes taking it
/// answer 401 to anyone else — client tokens included —, 403 to a known caller the route is not
/// granted to, and Kong never routes them publicly.
#[derive(Debug, Clone)]
pub struct InternalCaller {
    /// The caller's name (`kong`, a service's name).
    pub caller: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for InternalCaller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<crate::grpc::InternalAuth>()
            .ok_or_else(|| Problem::internal("no internal credential installed on this router"))?;
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        match auth
            .credentials()
            .check_http(header, parts.method.as_str(), &route)
        {
            Ok(caller) => Ok(InternalCaller { caller }),
            Err(crate::credentials::Refusal::Unknown) => Err(Problem::unauthorized(
                "this endpoint is for internal callers",
            )),
            Err(r) => Err(Problem::forbidden(
                r.message(&format!("{} {route}", parts.method)),
            )),
        }
    }
}
