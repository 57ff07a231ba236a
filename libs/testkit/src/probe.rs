//! A cross-tenant probe driven by the service's own OpenAPI document.
//!
//! Every operation whose path takes an id (a uuid path parameter, or one the document leaves
//! untyped) is called with tenant A's credentials and tenant B's real ids. Each must answer 403
//! or 404 (or a status the caller declares, with the reason, for causes unrelated to existence),
//! must answer the same as for ids that do not exist (else whether B's records exist can be
//! told), and must carry none of B's ids or strings. An operation whose ids the caller did not
//! supply fails the probe unless it is skipped with a reason, so a new endpoint is never left out
//! silently.
//!
//! ```ignore
//! Probe::new(&t, &a_admin)
//!     .id("org_id", b_org)
//!     .id("user_id", b_member)
//!     .body(Method::PATCH, "/api/v1/organizations/{org_id}", json!({"industry": "x"}))
//!     .secret(&b_email)
//!     .run()
//!     .await;
//! ```
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::client::{Auth, Response, Svc};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "options", "head", "trace",
];

/// `METHOD /path/{param}`, the key of an operation.
fn key(method: &Method, path: &str) -> String {
    format!("{} {path}", method.as_str().to_ascii_uppercase())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Uuid,
    /// Declared with another type (e.g. a provider name): needs a value, but is not an id.
    Other(String),
    /// In the path but not among the operation's parameters.
    Undeclared,
}

impl Kind {
    fn is_id(&self) -> bool {
        matches!(self, Kind::Uuid | Kind::Undeclared)
    }
}

#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    path: String,
    params: Vec<(String, Kind)>,
    has_body: bool,
}

impl Operation {
    fn key(&self) -> String {
        key(&self.method, &self.path)
    }
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/")
            .map(|p| {
                p.split('/').fold(doc, |at, seg| {
                    &at[seg.replace("~1", "/").replace("~0", "~")]
                })
            })
            .unwrap_or(v),
        None => v,
    }
}

fn template_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// The operations of an OpenAPI document (3.x), with the kind of each path parameter.
fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        let item = resolve(doc, item);
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let declared: Vec<&Value> = item["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(op["parameters"].as_array().into_iter().flatten())
                .map(|p| resolve(doc, p))
                .filter(|p| p["in"] == "path")
                .collect();
            let params = template_params(path)
                .into_iter()
                .map(|name| {
                    let kind = declared
                        .iter()
                        .rev()
                        .find(|p| p["name"] == name.as_str())
                        .map(|p| {
                            let schema = resolve(doc, &p["schema"]);
                            if schema["format"] == "uuid" {
                                Kind::Uuid
                            } else {
                                Kind::Other(schema["type"].as_str().unwrap_or("?").to_string())
                            }
                        })
                        .unwrap_or(Kind::Undeclared);
                    (name, kind)
                })
                .collect();
            let method =
                Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap_or(Method::GET);
            let has_body = op.get("requestBody").is_some()
                || [Method::POST, Method::PUT, Method::PATCH].contains(&method);
            out.push(Operation {
                method,
                path: path.clone(),
                params,
                has_body,
            });
        }
    }
    out
}

/// One probed operation.
#[derive(Debug, Clone)]
pub struct Probed {
    /// `METHOD /path/{param}`.
    pub operation: String,
    /// The answer to tenant B's ids.
    pub status: u16,
    /// The answer to ids that do not exist.
    pub status_for_unknown_ids: u16,
}

/// What the probe did.
#[derive(Debug, Clone, Default)]
pub struct ProbeReport {
    pub probed: Vec<Probed>,
    /// Operations left out, with the reason given.
    pub skipped: Vec<(String, String)>,
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.probed {
            writeln!(
                f,
                "probed  {} → {} (unknown ids → {})",
                p.operation, p.status, p.status_for_unknown_ids
            )?;
        }
        for (op, why) in &self.skipped {
            writeln!(f, "skipped {op}: {why}")?;
        }
        Ok(())
    }
}

/// The probe found something: every failure, and what it did.
#[derive(Debug, Clone)]
pub struct ProbeFailure {
    pub failures: Vec<String>,
    pub report: ProbeReport,
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cross-tenant probe: {} failure(s):", self.failures.len())?;
        for x in &self.failures {
            writeln!(f, "- {x}")?;
        }
        write!(f, "{}", self.report)
    }
}

impl std::error::Error for ProbeFailure {}

/// The probe, configured with tenant A's credentials and tenant B's ids and strings.
#[must_use = "the probe does nothing until run"]
pub struct Probe<'a> {
    svc: &'a Svc,
    auth: Auth,
    ids: BTreeMap<String, String>,
    op_ids: BTreeMap<(String, String), String>,
    bodies: BTreeMap<String, Value>,
    default_body: Value,
    secrets: Vec<String>,
    allowed: BTreeMap<String, Vec<(u16, String)>>,
    oracles: BTreeMap<String, String>,
    skipped: BTreeMap<String, String>,
}

impl<'a> Probe<'a> {
    /// A probe calling `svc` as tenant A (`auth`: its token and headers).
    pub fn new(svc: &'a Svc, auth: impl Into<Auth>) -> Probe<'a> {
        Probe {
            svc,
            auth: auth.into(),
            ids: BTreeMap::new(),
            op_ids: BTreeMap::new(),
            bodies: BTreeMap::new(),
            default_body: serde_json::json!({}),
            secrets: Vec::new(),
            allowed: BTreeMap::new(),
            oracles: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Tenant B's value for every path parameter named `param`.
    pub fn id(mut self, param: &str, value: impl fmt::Display) -> Self {
        self.ids.insert(param.to_string(), value.to_string());
        self
    }

    /// Tenant B's value for `param` of one operation (overrides [`Probe::id`]).
    pub fn id_for(
        mut self,
        method: Method,
        path: &str,
        param: &str,
        value: impl fmt::Display,
    ) -> Self {
        self.op_ids
            .insert((key(&method, path), param.to_string()), value.to_string());
        self
    }

    /// The body sent to one operation (valid, so the call reaches the existence check).
    pub fn body(mut self, method: Method, path: &str, body: Value) -> Self {
        self.bodies.insert(key(&method, path), body);
        self
    }

    /// The body sent to operations that take one and have none of their own (default `{}`).
    pub fn default_body(mut self, body: Value) -> Self {
        self.default_body = body;
        self
    }

    /// A string of tenant B's that no answer may contain (an email, a name, a token).
    pub fn secret(mut self, s: impl fmt::Display) -> Self {
        let s = s.to_string();
        assert!(!s.is_empty(), "an empty secret matches everything");
        self.secrets.push(s);
        self
    }

    /// Accepts `status` from one operation too, for a reason unrelated to whether B's records
    /// exist (e.g. 401: the operation takes another credential).
    pub fn allow(mut self, method: Method, path: &str, status: u16, reason: &str) -> Self {
        self.allowed
            .entry(key(&method, path))
            .or_default()
            .push((status, reason.to_string()));
        self
    }

    /// Accepts that one operation answers B's ids otherwise than ids that do not exist.
    pub fn allow_existence_oracle(mut self, method: Method, path: &str, reason: &str) -> Self {
        self.oracles.insert(key(&method, path), reason.to_string());
        self
    }

    /// Leaves one operation out, with the reason.
    pub fn skip(mut self, method: Method, path: &str, reason: &str) -> Self {
        self.skipped.insert(key(&method, path), reason.to_string());
        self
    }

    /// Runs the probe; panics with every failure.
    pub async fn run(self) -> ProbeReport {
        match self.check().await {
            Ok(report) => report,
            Err(f) => panic!("{f}"),
        }
    }

    /// Runs the probe: the report, or every failure.
    pub async fn check(self) -> Result<ProbeReport, ProbeFailure> {
        let mut failures = Vec::new();
        let mut report = ProbeReport::default();
        let doc = match self.svc.get("/openapi.json").send().await {
            Ok(r) if r.status.is_success() => r.body,
            Ok(r) => {
                failures.push(format!("fetching the OpenAPI document: {r}"));
                Value::Null
            }
            Err(e) => {
                failures.push(format!("fetching the OpenAPI document: {e:#}"));
                Value::Null
            }
        };
        let ops = operations(&doc);
        self.check_references(&ops, &mut failures);
        for op in ops
            .iter()
            .filter(|o| o.params.iter().any(|(_, k)| k.is_id()))
        {
            let k = op.key();
            if let Some(why) = self.skipped.get(&k) {
                report.skipped.push((k, why.clone()));
                continue;
            }
            if let Some(p) = self.probe_one(op, &mut failures).await {
                report.probed.push(p);
            }
        }
        if report.probed.is_empty() && failures.is_empty() {
            failures.push("no operation taking an id was probed".into());
        }
        if failures.is_empty() {
            Ok(report)
        } else {
            Err(ProbeFailure { failures, report })
        }
    }

    /// Skips, bodies, allowances and per-operation ids must name operations the document has.
    fn check_references(&self, ops: &[Operation], failures: &mut Vec<String>) {
        let known: BTreeSet<String> = ops.iter().map(Operation::key).collect();
        let named = self
            .skipped
            .keys()
            .chain(self.bodies.keys())
            .chain(self.allowed.keys())
            .chain(self.oracles.keys())
            .chain(self.op_ids.keys().map(|(k, _)| k));
        let unknown: BTreeSet<&String> = named.filter(|k| !known.contains(*k)).collect();
        for k in unknown {
            failures.push(format!(
                "{k} is configured but the OpenAPI document has no such operation"
            ));
        }
    }

    fn value_for(&self, op: &str, param: &str) -> Option<&String> {
        self.op_ids
            .get(&(op.to_string(), param.to_string()))
            .or_else(|| self.ids.get(param))
    }

    async fn call(&self, op: &Operation, path: &str) -> anyhow::Result<Response> {
        let body = self
            .bodies
            .get(&op.key())
            .cloned()
            .or_else(|| op.has_body.then(|| self.default_body.clone()));
        self.svc
            .request(op.method.clone(), path)
            .auth(&self.auth)
            .json_opt(body)
            .send()
            .await
    }

    async fn probe_one(&self, op: &Operation, failures: &mut Vec<String>) -> Option<Probed> {
        let k = op.key();
        let mut b_path = op.path.clone();
        let mut unknown_path = op.path.clone();
        let mut missing = Vec::new();
        for (name, kind) in &op.params {
            let slot = format!("{{{name}}}");
            match self.value_for(&k, name) {
                Some(v) => {
                    b_path = b_path.replace(&slot, v);
                    let other = if kind.is_id() {
                        Uuid::new_v4().to_string()
                    } else {
                        v.clone()
                    };
                    unknown_path = unknown_path.replace(&slot, &other);
                }
                None => missing.push(match kind {
                    Kind::Uuid => format!("{name} (uuid)"),
                    Kind::Other(t) => format!("{name} ({t})"),
                    Kind::Undeclared => format!("{name} (not declared in the document)"),
                }),
            }
        }
        if !missing.is_empty() {
            failures.push(format!(
                "{k}: no value of tenant B for {}: supply it with .id()/.id_for() or .skip() the operation with a reason",
                missing.join(", ")
            ));
            return None;
        }
        let (b, unknown) = match (
            self.call(op, &b_path).await,
            self.call(op, &unknown_path).await,
        ) {
            (Ok(b), Ok(u)) => (b, u),
            (Err(e), _) | (_, Err(e)) => {
                failures.push(format!("{k}: {e:#}"));
                return None;
            }
        };
        let mut allowed: Vec<u16> = vec![403, 404];
        allowed.extend(self.allowed.get(&k).into_iter().flatten().map(|(s, _)| *s));
        if !allowed.contains(&b.status.as_u16()) {
            let hint = if matches!(b.status.as_u16(), 400 | 422) {
                " (the body may be refused before the existence check: supply a valid one with .body())"
            } else {
                ""
            };
            failures.push(format!(
                "{k} with tenant A's credentials and B's ids ({b_path}) answered {}, not one of {allowed:?}{hint}: {}",
                b.status, b.text
            ));
        }
        if b.status != unknown.status && !self.oracles.contains_key(&k) {
            failures.push(format!(
                "{k}: B's ids answer {}, ids that do not exist answer {}: whether B's records exist can be told",
                b.status, unknown.status
            ));
        }
        for leak in self.leaks(&b, &b_path) {
            failures.push(format!("{k} ({b_path}) answered {leak}: {}", b.text));
        }
        Some(Probed {
            operation: k,
            status: b.status.as_u16(),
            status_for_unknown_ids: unknown.status.as_u16(),
        })
    }

    /// B's strings in an answer: its body or headers. B's ids that the request itself carried
    /// are not a leak.
    fn leaks(&self, r: &Response, sent_path: &str) -> Vec<String> {
        let mut hay = r.text.to_lowercase();
        for (name, v) in &r.headers {
            hay.push('\n');
            hay.push_str(name.as_str());
            hay.push_str(": ");
            hay.push_str(&v.to_str().unwrap_or_default().to_lowercase());
        }
        let sent = sent_path.to_lowercase();
        let ids = self.ids.iter().map(|(p, v)| (format!("B's {p}"), v)).chain(
            self.op_ids
                .iter()
                .map(|((_, p), v)| (format!("B's {p}"), v)),
        );
        let secrets = self.secrets.iter().map(|s| (format!("B's {s:?}"), s));
        let mut found = BTreeSet::new();
        for (label, v) in ids.chain(secrets) {
            let v = v.to_lowercase();
            if !v.is_empty() && !sent.contains(&v) && hay.contains(&v) {
                found.insert(label);
            }
        }
        found.into_iter().collect()
    }
}
