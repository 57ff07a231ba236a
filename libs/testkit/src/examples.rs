//! The specification's HTTP examples (`spec/examples.json`: services 0–5, each with its method,
//! path, headers, request body and documented responses), replayed against a spawned service.
//!
//! A [`Replay`] sends each example's request (its path parameters, credentials and any
//! documented deviation of the body supplied by the test) and checks the answer: the documented
//! status, and for a success every documented field present with the documented kind (string,
//! number, boolean, object, array; `null` in the example or the answer matches anything). A
//! documented error answer is checked as the platform answers every error:
//! `application/problem+json` with the status. [`Replay::finish`] fails for any example of the
//! service that was neither replayed nor skipped with a reason.
//!
//! Longer than most modules: the replay's step builder and its report of deviations belong
//! together, so each declared deviation is checked where it is stated.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::{Arc, Mutex},
};

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{Auth, Svc};

static EXAMPLES: &str = include_str!("../spec/examples.json");

/// One example of the specification.
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    /// `<number> <name>`, e.g. `0 Organization Management & Authentication Service`.
    pub service: String,
    pub method: String,
    /// As documented, with `{placeholders}` (and a query string for some).
    pub path: String,
    #[serde(default)]
    pub headers: Vec<String>,
    /// The request body (`{"_raw": text}` where the specification abbreviates it).
    #[serde(default)]
    pub request: Value,
    pub responses: Vec<ExampleResponse>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExampleResponse {
    pub status: u16,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub body: Value,
}

impl Example {
    /// `METHOD /path`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The service number: `0`, `0.5`, `1` …
    pub fn number(&self) -> &str {
        self.service.split_whitespace().next().unwrap_or_default()
    }

    /// The request body, with abbreviated ones read leniently (`// comments`, `{...}`).
    pub fn request_body(&self) -> Option<Value> {
        body(&self.request)
    }

    fn needs_credentials(&self) -> bool {
        self.headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("authorization:"))
    }
}

fn body(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(o) if o.len() == 1 && o.contains_key("_raw") => {
            lenient(o["_raw"].as_str().unwrap_or_default())
        }
        other => Some(other.clone()),
    }
}

/// JSON as the specification abbreviates it: `// comments` dropped, `{...}` and `[...]` read as
/// empty; `None` when it still does not parse.
pub fn lenient(raw: &str) -> Option<Value> {
    let mut out = String::with_capacity(raw.len());
    let (mut in_str, mut escaped) = (false, false);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    let out = out.replace("{...}", "{}").replace("[...]", "[]");
    serde_json::from_str(&out).ok()
}

/// Every example of the specification.
pub fn all() -> Vec<Example> {
    serde_json::from_str(EXAMPLES).expect("spec/examples.json is a list of examples")
}

/// The examples of service `number` (`"0"`, `"0.5"` …), in the specification's order.
pub fn of_service(number: &str) -> Vec<Example> {
    all().into_iter().filter(|e| e.number() == number).collect()
}

/// Replays one service's examples; see the module.
pub struct Replay<'a> {
    svc: &'a Svc,
    number: String,
    examples: Vec<Example>,
    replayed: BTreeSet<String>,
    skipped: BTreeMap<String, String>,
    deviations: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
    finished: bool,
}

impl<'a> Replay<'a> {
    /// The examples of service `number`, to replay against `svc`.
    pub fn new(svc: &'a Svc, number: &str) -> Replay<'a> {
        let examples = of_service(number);
        assert!(
            !examples.is_empty(),
            "the specification has no examples for service {number}"
        );
        Replay {
            svc,
            number: number.to_string(),
            examples,
            replayed: BTreeSet::new(),
            skipped: BTreeMap::new(),
            deviations: Arc::default(),
            failures: Arc::default(),
            finished: false,
        }
    }

    /// The example `method path` (as documented, placeholders included), to replay.
    pub fn example(&mut self, method: Method, path: &str) -> Step<'a> {
        let k = format!("{method} {path}");
        let ex = self
            .examples
            .iter()
            .find(|e| e.key() == k)
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "service {} has no example {k}; it has: {:?}",
                    self.number,
                    self.examples.iter().map(Example::key).collect::<Vec<_>>()
                )
            });
        self.replayed.insert(k);
        Step {
            svc: self.svc,
            deviations: self.deviations.clone(),
            failures: self.failures.clone(),
            body: ex.request_body(),
            ex,
            params: Vec::new(),
            auth: Auth::anonymous(),
            response: 0,
            absent: BTreeMap::new(),
            status: None,
            query: Vec::new(),
            follow_redirects: true,
            reshaped: BTreeSet::new(),
        }
    }

    /// Leaves an example out, with the reason.
    pub fn skip(&mut self, method: Method, path: &str, reason: &str) {
        let k = format!("{method} {path}");
        assert!(
            self.examples.iter().any(|e| e.key() == k),
            "service {} has no example {k} to skip",
            self.number
        );
        self.skipped.insert(k, reason.to_string());
    }

    /// Panics naming every example that answered otherwise than documented and every one
    /// neither replayed nor skipped; else answers the declared deviations (skips, absent or
    /// reshaped fields, other statuses and bodies, each with its reason).
    pub fn finish(mut self) -> Vec<String> {
        self.finished = true;
        let left: Vec<String> = self
            .examples
            .iter()
            .map(Example::key)
            .filter(|k| !self.replayed.contains(k) && !self.skipped.contains_key(k))
            .collect();
        let mut failures = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        if !left.is_empty() {
            failures.push(format!(
                "examples of service {} neither replayed nor skipped: {left:?}",
                self.number
            ));
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        let mut out: Vec<String> = self
            .skipped
            .iter()
            .map(|(k, why)| format!("{k}: skipped: {why}"))
            .collect();
        out.extend(
            self.deviations
                .lock()
                .map(|d| d.clone())
                .unwrap_or_default(),
        );
        out
    }
}

impl Drop for Replay<'_> {
    fn drop(&mut self) {
        if !self.finished && !std::thread::panicking() {
            panic!(
                "the replay of service {}'s examples ended without finish()",
                self.number
            );
        }
    }
}

/// One example being replayed.
#[must_use = "an example is replayed by run()"]
pub struct Step<'a> {
    svc: &'a Svc,
    deviations: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
    ex: Example,
    params: Vec<(String, String)>,
    auth: Auth,
    body: Option<Value>,
    response: usize,
    absent: BTreeMap<String, String>,
    status: Option<u16>,
    query: Vec<(String, String)>,
    follow_redirects: bool,
    reshaped: BTreeSet<String>,
}

impl Step<'_> {
    /// The value of the path's `{name}`.
    pub fn param(mut self, name: &str, value: impl fmt::Display) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds `key=value` to the query string (a parameter the example leaves out).
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// Answers a documented redirect instead of following it.
    pub fn no_redirects(mut self) -> Self {
        self.follow_redirects = false;
        self
    }

    /// The caller's credentials (the example's `Authorization` placeholder).
    pub fn auth(mut self, auth: impl Into<Auth>) -> Self {
        self.auth = auth.into();
        self
    }

    /// Sends `body` instead of the example's request: a deviation, with the reason.
    pub fn body(mut self, body: Value, reason: &str) -> Self {
        self.body = Some(body);
        self.note(format!("sends another body: {reason}"));
        self
    }

    /// Records a deviation from the example the test makes (e.g. a field the service also
    /// requires), with the reason.
    pub fn deviation(self, what: &str) -> Self {
        self.note(what.to_string());
        self
    }

    fn note(&self, what: String) {
        if let Ok(mut d) = self.deviations.lock() {
            d.push(format!("{}: {what}", self.ex.key()));
        }
    }

    /// Merges `patch` into the example's request (RFC 7386: `null` removes a field), e.g. a
    /// real address or token in place of the example's.
    pub fn patch(mut self, patch: Value) -> Self {
        let mut b = self.body.take().unwrap_or(Value::Null);
        merge(&mut b, &patch);
        self.body = Some(b);
        self
    }

    /// Which documented response to expect (default the first).
    pub fn response(mut self, index: usize) -> Self {
        assert!(
            index < self.ex.responses.len(),
            "{} documents {} responses",
            self.ex.key(),
            self.ex.responses.len()
        );
        self.response = index;
        self
    }

    /// A documented field the service does not answer (`a.b`, `list[].c`), with the reason.
    pub fn absent(mut self, field: &str, reason: &str) -> Self {
        self.note(format!("{field} absent: {reason}"));
        self.absent.insert(field.to_string(), reason.to_string());
        self
    }

    /// A documented field the service answers in another form (its shape is not compared; `""`
    /// for the whole body), with the reason.
    pub fn reshaped(mut self, field: &str, reason: &str) -> Self {
        let what = if field.is_empty() { "the body" } else { field };
        self.note(format!("{what} answered in another form: {reason}"));
        self.reshaped.insert(field.to_string());
        self
    }

    /// The service answers `status` where the example documents another, with the reason.
    pub fn answers(mut self, status: u16, reason: &str) -> Self {
        self.note(format!("answers {status}: {reason}"));
        self.status = Some(status);
        self
    }

    /// Sends the request and checks the answer (a difference is reported by
    /// [`Replay::finish`], so one run names them all); the answer's body.
    pub async fn run(self) -> Value {
        let k = self.ex.key();
        let mut path = self.ex.path.clone();
        for (name, v) in &self.params {
            let slot = format!("{{{name}}}");
            assert!(path.contains(&slot), "{k} has no {slot}");
            path = path.replace(&slot, v);
        }
        assert!(
            !path.contains('{'),
            "{k}: no value for a path parameter of {path}"
        );
        assert!(
            !self.ex.needs_credentials() || self.auth.token.is_some(),
            "{k} is documented with credentials: supply them with .auth()"
        );
        let method = Method::from_bytes(self.ex.method.as_bytes())
            .unwrap_or_else(|_| panic!("{k}: not a method"));
        let documented = &self.ex.responses[self.response];
        let want = self.status.unwrap_or(documented.status);
        let mut req = self
            .svc
            .request(method, &path)
            .auth(&self.auth)
            .json_opt(self.body.clone());
        for (k, v) in &self.query {
            req = req.query(k, v);
        }
        if !self.follow_redirects {
            req = req.no_redirects();
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("example {k}: {e:#}"));
        let mut problems = Vec::new();
        if r.status.as_u16() != want {
            problems.push(format!("answered {}, documented {want}", r.status));
        } else if want >= 400 {
            if !r.is_problem() || r.body["status"] != want {
                problems.push(format!(
                    "an error answer is not application/problem+json with status {want}"
                ));
            }
        } else if self.status.is_none()
            && let Some(expected) = body(&documented.body)
        {
            let mut used = BTreeSet::new();
            let declared = Declared {
                absent: &self.absent,
                reshaped: &self.reshaped,
            };
            shape(&expected, &r.body, "", &declared, &mut used, &mut problems);
            let all = self.absent.keys().chain(self.reshaped.iter());
            for f in all.filter(|f| !used.contains(*f)) {
                problems.push(format!(
                    "{f} is declared absent or reshaped but the example documents no such field (or the answer lacks it)"
                ));
            }
        }
        if !problems.is_empty()
            && let Ok(mut f) = self.failures.lock()
        {
            f.push(format!(
                "example {k} (sent to {path}, body {}):\n- {}\nanswer: {}",
                self.body.map(|b| b.to_string()).unwrap_or_default(),
                problems.join("\n- "),
                r.text
            ));
        }
        r.body
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The fields a step declared absent or reshaped.
struct Declared<'a> {
    absent: &'a BTreeMap<String, String>,
    reshaped: &'a BTreeSet<String>,
}

/// Every documented field of `expected` in `actual`, with the same kind.
fn shape(
    expected: &Value,
    actual: &Value,
    at: &str,
    declared: &Declared<'_>,
    used: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    if declared.reshaped.contains(at) {
        used.insert(at.to_string());
        return;
    }
    if expected.is_null() || actual.is_null() {
        return;
    }
    let here = if at.is_empty() { "the body" } else { at };
    if std::mem::discriminant(expected) != std::mem::discriminant(actual) {
        out.push(format!(
            "{here} is {}, documented as {}",
            kind(actual),
            kind(expected)
        ));
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                if declared.absent.contains_key(&p) {
                    used.insert(p.clone());
                    if a.contains_key(k) {
                        out.push(format!("{p} is declared absent but is answered"));
                    }
                    continue;
                }
                match a.get(k) {
                    Some(av) => shape(ev, av, &p, declared, used, out),
                    None => out.push(format!("{p} is missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(ev), Some(av)) = (e.first(), a.first()) {
                shape(ev, av, &format!("{at}[]"), declared, used, out);
            }
        }
        _ => {}
    }
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}
