//! A typed client for a spawned service:
//! `t.post("/api/v1/things").bearer(&tok).json(body).expect(201).await` answers the JSON body,
//! or panics naming the method, path, expected and actual status and the body.
use std::{fmt, ops::Deref, time::Duration};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;

use crate::{Spawned, TestDb, mailbox::Mailbox, outbox};

/// The content type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Who calls: a bearer token and any headers sent with it (e.g. the gateway's `X-Agent-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub token: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Auth {
    /// No credentials at all.
    pub fn anonymous() -> Auth {
        Auth::default()
    }

    pub fn bearer(token: impl Into<String>) -> Auth {
        Auth {
            token: Some(token.into()),
            headers: Vec::new(),
        }
    }

    /// Adds a header sent with these credentials.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Auth {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl From<&str> for Auth {
    fn from(token: &str) -> Auth {
        Auth::bearer(token)
    }
}

impl From<String> for Auth {
    fn from(token: String) -> Auth {
        Auth::bearer(token)
    }
}

impl From<&String> for Auth {
    fn from(token: &String) -> Auth {
        Auth::bearer(token.as_str())
    }
}

impl From<&Auth> for Auth {
    fn from(a: &Auth) -> Auth {
        a.clone()
    }
}

/// A status to expect: `201` or `StatusCode::CREATED`.
pub trait IntoStatus {
    fn into_status(self) -> StatusCode;
}

impl IntoStatus for u16 {
    fn into_status(self) -> StatusCode {
        StatusCode::from_u16(self).unwrap_or_else(|_| panic!("{self} is not an HTTP status"))
    }
}

impl IntoStatus for StatusCode {
    fn into_status(self) -> StatusCode {
        self
    }
}

/// A spawned service as a test's client sees it: the [`Spawned`] service (its database, tokens,
/// mailbox) plus headers sent with every request (e.g. a per-test client address).
pub struct Svc {
    spawned: Spawned,
    headers: Vec<(String, String)>,
}

impl Deref for Svc {
    type Target = Spawned;
    fn deref(&self) -> &Spawned {
        &self.spawned
    }
}

impl From<Spawned> for Svc {
    fn from(spawned: Spawned) -> Svc {
        Svc::new(spawned)
    }
}

impl Svc {
    pub fn new(spawned: Spawned) -> Svc {
        Svc {
            spawned,
            headers: Vec::new(),
        }
    }

    /// Starts `def` ([`crate::spawn`]) with a client address of its own.
    pub async fn start(def: &'static kit::ServiceDef) -> anyhow::Result<Svc> {
        Self::start_with(def, &[]).await
    }

    /// Starts `def` with extra settings ([`crate::spawn_with`]) and a client address of its own.
    pub async fn start_with(
        def: &'static kit::ServiceDef,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Svc> {
        Ok(Svc::new(crate::spawn_with(def, extra).await?).with_client_ip(&crate::client_ip()))
    }

    /// Sends `name: value` with every request (a request's own header of that name wins).
    pub fn with_header(mut self, name: &str, value: &str) -> Svc {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Every request comes from `ip` (`X-Forwarded-For`), so per-address limits and audit
    /// records see one client.
    pub fn with_client_ip(self, ip: &str) -> Svc {
        self.with_header("x-forwarded-for", ip)
    }

    /// The address set by [`Svc::with_client_ip`].
    pub fn client_ip(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-for"))
            .map(|(_, v)| v.as_str())
    }

    pub fn spawned(&self) -> &Spawned {
        &self.spawned
    }

    pub fn into_spawned(self) -> Spawned {
        self.spawned
    }

    pub fn db(&self) -> &TestDb {
        &self.spawned.db
    }

    pub fn request(&self, method: Method, path: &str) -> Request<'_> {
        Request {
            http: &self.spawned.http,
            base: &self.spawned.base,
            method,
            path: path.to_string(),
            query: Vec::new(),
            headers: self.headers.clone(),
            token: None,
            body: None,
            follow_redirects: true,
            // Requests reach the service as through the edge: what the edge would inject is
            // signed with the service's edge key.
            edge: self.spawned.shared.edge.clone(),
        }
    }

    pub fn get(&self, path: &str) -> Request<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Request<'_> {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Request<'_> {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Request<'_> {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Request<'_> {
        self.request(Method::DELETE, path)
    }

    /// The service's file mailbox.
    pub fn mailbox(&self) -> Mailbox {
        Mailbox::new(&self.spawned.mailbox)
    }

    /// A transaction as the service's own work (RLS: every tenant), for checks behind the API.
    pub async fn system_tx(&self) -> anyhow::Result<kit::store::Tx> {
        Ok(kit::store::begin(&self.spawned.db.app, kit::store::Scope::system()).await?)
    }

    /// The `event_type` of every outbox row, oldest first.
    pub async fn outbox_types(&self) -> anyhow::Result<Vec<String>> {
        outbox::outbox_types(&self.spawned.db).await
    }

    /// See [`outbox::assert_outbox`].
    pub async fn assert_outbox(&self, event_type: &str) -> Vec<kit::contracts::events::Envelope> {
        outbox::assert_outbox(&self.spawned.db, event_type).await
    }

    /// See [`outbox::assert_outbox_once`].
    pub async fn assert_outbox_once(
        &self,
        event_type: &str,
        subject: &str,
    ) -> kit::contracts::events::Envelope {
        outbox::assert_outbox_once(&self.spawned.db, event_type, subject).await
    }

    /// This service's Redis key `k` in the test's namespace (`<ns><service>:<k>`).
    pub fn redis_key(&self, k: &str) -> String {
        let ns = self.spawned.shared.config.redis_namespace();
        format!("{ns}{}:{k}", self.service_name())
    }

    /// The name of the service this runs.
    pub fn service_name(&self) -> &'static str {
        self.spawned.fleet.services[0].name
    }
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// One request being built; send it with [`Request::send`], [`Request::expect`] or
/// [`Request::expect_problem`].
#[must_use = "a request does nothing until sent"]
pub struct Request<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    token: Option<String>,
    body: Option<Body>,
    follow_redirects: bool,
    edge: Option<kit::auth::EdgeKey>,
}

/// The edge's signature headers for a request with these headers and bearer token.
pub fn edge_headers(
    key: &kit::auth::EdgeKey,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    token: Option<&str>,
) -> [(String, String); 2] {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let authorization = token.map(|t| format!("Bearer {t}"));
    let time = kit::auth::edge::now();
    let signature = key.sign(&kit::auth::edge::Signed {
        method,
        path: path.split('?').next().unwrap_or(path),
        authorization: authorization.as_deref().or(find("authorization")),
        agent_id: find(kit::auth::edge::AGENT_ID_HEADER),
        permissions: find(kit::auth::edge::AGENT_PERMISSIONS_HEADER),
        forwarded_for: find(kit::auth::edge::FORWARDED_FOR_HEADER),
        time,
    });
    [
        (kit::auth::edge::TIME_HEADER.to_string(), time.to_string()),
        (kit::auth::edge::SIGNATURE_HEADER.to_string(), signature),
    ]
}

impl Request<'_> {
    /// Sends the request as a peer pod would, straight to the service: nothing is signed, so
    /// the service must ignore any `X-Agent-*` or `X-Forwarded-For` it carries.
    pub fn unsigned(mut self) -> Self {
        self.edge = None;
        self
    }

    /// Answers a redirect itself instead of following it.
    pub fn no_redirects(mut self) -> Self {
        self.follow_redirects = false;
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// A bearer token when there is one.
    pub fn bearer_opt(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_string);
        self
    }

    /// The caller's token and headers.
    pub fn auth(mut self, auth: impl Into<Auth>) -> Self {
        let auth = auth.into();
        if auth.token.is_some() {
            self.token = auth.token;
        }
        for (k, v) in auth.headers {
            self = self.header(&k, &v);
        }
        self
    }

    /// Sets a header (replacing one of the same name, including the service's defaults).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds `key=value` to the query string (encoded).
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: impl serde::Serialize) -> Self {
        let v = serde_json::to_value(body).expect("a JSON-serialisable body");
        self.body = Some(Body::Json(v));
        self
    }

    /// A JSON body when there is one.
    pub fn json_opt(mut self, body: Option<Value>) -> Self {
        self.body = body.map(Body::Json);
        self
    }

    /// A body of any content type, sent as is.
    pub fn raw(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(Body::Raw {
            content_type: content_type.to_string(),
            bytes: bytes.into(),
        });
        self
    }

    /// `METHOD /path` (for messages).
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Sends the request: the status, headers and body.
    pub async fn send(self) -> anyhow::Result<Response> {
        let what = self.describe();
        let mut url = format!("{}{}", self.base, self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            let sep = if i == 0 && !self.path.contains('?') {
                '?'
            } else {
                '&'
            };
            url.push(sep);
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
        }
        let no_redirects;
        let http = if self.follow_redirects {
            self.http
        } else {
            no_redirects = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            &no_redirects
        };
        let mut req = http
            .request(self.method.clone(), url)
            .timeout(Duration::from_secs(30));
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(key) = &self.edge {
            let signed = edge_headers(
                key,
                self.method.as_str(),
                &self.path,
                &self.headers,
                self.token.as_deref(),
            );
            for (k, v) in signed {
                req = req.header(k, v);
            }
        }
        match self.body {
            Some(Body::Json(b)) => req = req.json(&b),
            Some(Body::Raw {
                content_type,
                bytes,
            }) => req = req.header("content-type", content_type).body(bytes),
            None => {}
        }
        let res = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        let status = res.status();
        let headers = res.headers().clone();
        let text = res
            .text()
            .await
            .map_err(|e| anyhow::anyhow!("{what}: reading the body: {e}"))?;
        Ok(Response {
            what,
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone())),
            text,
        })
    }

    /// Sends the request and answers its JSON body; panics unless the status is `status`.
    pub async fn expect(self, status: impl IntoStatus) -> Value {
        let what = self.describe();
        match self.send().await {
            Ok(r) => r.expect(status),
            Err(e) => panic!("{what}: {e:#}"),
        }
    }

    /// [`Request::expect`] for an error answer: also checks it is `application/problem+json`
    /// with the status in its body.
    pub async fn expect_problem(self, status: impl IntoStatus) -> Value {
        let what = self.describe();
        match self.send().await {
            Ok(r) => r.expect_problem(status),
            Err(e) => panic!("{what}: {e:#}"),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An answer: status, headers and the body (JSON, or the text as a JSON string).
#[derive(Debug, Clone)]
pub struct Response {
    /// `METHOD /path` of the request.
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as sent.
    pub text: String,
}

impl Response {
    /// `(status, body)`.
    pub fn parts(self) -> (StatusCode, Value) {
        (self.status, self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// Whether the answer is `application/problem+json`.
    pub fn is_problem(&self) -> bool {
        self.content_type()
            .is_some_and(|c| c.starts_with(PROBLEM_JSON))
    }

    /// The body; panics unless the status is `status`.
    pub fn expect(self, status: impl IntoStatus) -> Value {
        let want = status.into_status();
        if self.status != want {
            panic!(
                "{}: expected {want}, got {}: {}",
                self.what, self.status, self.text
            );
        }
        self.body
    }

    /// The problem body; panics unless the status is `status`, the content type
    /// `application/problem+json` and the body's `status` the same.
    pub fn expect_problem(self, status: impl IntoStatus) -> Value {
        let want = status.into_status();
        if self.status != want || !self.is_problem() || self.body["status"] != want.as_u16() {
            panic!(
                "{}: expected a {want} {PROBLEM_JSON} answer, got {} ({}): {}",
                self.what,
                self.status,
                self.content_type().unwrap_or("no content type"),
                self.text
            );
        }
        self.body
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}: {}", self.what, self.status, self.text)
    }
}
