//! The subset of Kong 3.x declarative configuration the gateway understands. Every entity and
//! plugin config is parsed with `deny_unknown_fields`, and a plugin, field or value it does not
//! implement is an error at start-up: the file cannot drift into something silently ignored.
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declarative {
    #[serde(rename = "_format_version")]
    pub format_version: String,
    #[serde(default)]
    pub consumers: Vec<Consumer>,
    #[serde(default)]
    pub plugins: Vec<PluginEntity>,
    #[serde(default)]
    pub services: Vec<Service>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub username: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub jwt_secrets: Vec<JwtSecret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSecret {
    pub key: String,
    pub algorithm: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub rsa_public_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Milliseconds to connect upstream.
    #[serde(default = "default_timeout")]
    pub connect_timeout: u64,
    /// Kong bounds each write with it; the gateway sends a request in one go on a local
    /// connection and bounds the whole exchange with `read_timeout` instead.
    #[serde(default = "default_timeout")]
    pub write_timeout: u64,
    /// Milliseconds until the upstream's response head (Kong: between two reads).
    #[serde(default = "default_timeout")]
    pub read_timeout: u64,
    /// Further attempts after a failure to connect (bodies up to 1 MiB are replayed).
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default)]
    pub plugins: Vec<PluginEntity>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

fn default_timeout() -> u64 {
    60_000
}
fn default_retries() -> u32 {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub regex_priority: i64,
    #[serde(default = "yes")]
    pub strip_path: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub plugins: Vec<PluginEntity>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntity {
    pub name: String,
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

// ---- plugin configurations (Kong's field names and defaults)

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConf {
    #[serde(default = "iss")]
    pub key_claim_name: String,
    #[serde(default)]
    pub claims_to_verify: Vec<String>,
    #[serde(default = "authorization")]
    pub header_names: Vec<String>,
    #[serde(default = "jwt_param")]
    pub uri_param_names: Vec<String>,
    #[serde(default)]
    pub cookie_names: Vec<String>,
    #[serde(default = "yes")]
    pub run_on_preflight: bool,
    #[serde(default)]
    pub secret_is_base64: bool,
    #[serde(default)]
    pub maximum_expiration: u64,
    #[serde(default)]
    pub anonymous: Option<String>,
}
fn iss() -> String {
    "iss".into()
}
fn authorization() -> Vec<String> {
    vec!["authorization".into()]
}
fn jwt_param() -> Vec<String> {
    vec!["jwt".into()]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConf {
    pub second: Option<u64>,
    pub minute: Option<u64>,
    pub hour: Option<u64>,
    pub day: Option<u64>,
    pub month: Option<u64>,
    pub year: Option<u64>,
    #[serde(default = "consumer")]
    pub limit_by: String,
    pub header_name: Option<String>,
    #[serde(default = "local")]
    pub policy: String,
    #[serde(default = "yes")]
    pub fault_tolerant: bool,
    #[serde(default)]
    pub hide_client_headers: bool,
    // Where Kong's redis policy keeps its counters; the gateway uses the fleet's Redis.
    pub redis_host: Option<String>,
    pub redis_port: Option<u16>,
    pub redis_database: Option<u32>,
    pub redis_timeout: Option<u64>,
    /// Kong's own Redis ACL user (`~ratelimit:*`) and its password (a vault reference); the
    /// gateway's counters go through the fleet's connection, under `gateway:rl:`.
    pub redis_username: Option<String>,
    pub redis_password: Option<String>,
}
fn consumer() -> String {
    "consumer".into()
}
fn local() -> String {
    "local".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationConf {
    #[serde(default = "kong_request_id")]
    pub header_name: String,
    #[serde(default = "uuid_counter")]
    pub generator: String,
    #[serde(default)]
    pub echo_downstream: bool,
}
fn kong_request_id() -> String {
    "Kong-Request-ID".into()
}
fn uuid_counter() -> String {
    "uuid#counter".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConf {
    #[serde(default = "size_128")]
    pub allowed_payload_size: u64,
    #[serde(default = "megabytes")]
    pub size_unit: String,
    #[serde(default)]
    pub require_content_length: bool,
}
fn size_128() -> u64 {
    128
}
fn megabytes() -> String {
    "megabytes".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConf {
    #[serde(default)]
    pub origins: Vec<String>,
    #[serde(default = "cors_methods")]
    pub methods: Vec<String>,
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    #[serde(default)]
    pub credentials: bool,
    pub max_age: Option<u64>,
    #[serde(default)]
    pub preflight_continue: bool,
}
fn cors_methods() -> Vec<String> {
    [
        "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ]
    .map(String::from)
    .to_vec()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConf {
    #[serde(default)]
    pub per_consumer: bool,
    #[serde(default)]
    pub status_code_metrics: bool,
    #[serde(default)]
    pub latency_metrics: bool,
    #[serde(default)]
    pub bandwidth_metrics: bool,
    #[serde(default)]
    pub upstream_health_metrics: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminationConf {
    #[serde(default = "s503")]
    pub status_code: u16,
    pub message: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<String>,
}
fn s503() -> u16 {
    503
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPermConf {
    pub permissions_url: String,
    pub service_token: String,
    /// The key the plugin signs its injected headers with (a vault reference).
    pub edge_key: String,
    pub required_permission: Option<String>,
    #[serde(default)]
    pub bypass_roles: Vec<String>,
    #[serde(default = "five")]
    pub cache_ttl: u64,
    #[serde(default = "two_seconds")]
    pub timeout_ms: u64,
    pub subject_header: Option<String>,
}
fn five() -> u64 {
    5
}
fn two_seconds() -> u64 {
    2000
}

/// A plugin instance the gateway implements, with its configuration checked.
#[derive(Debug, Clone)]
pub enum Plugin {
    CorrelationId(CorrelationConf),
    Cors(CorsConf),
    Jwt(JwtConf),
    AgentPermissions(AgentPermConf),
    RequestSizeLimiting(SizeConf),
    RateLimiting(RateLimitConf),
    Prometheus(PrometheusConf),
    RequestTermination(TerminationConf),
}

/// Kong's plugin names, in the order Kong runs them (descending PRIORITY): correlation-id
/// 100001, cors 2000, jwt 1450, agent-permissions 1000, request-size-limiting 951,
/// rate-limiting 910, prometheus 13, request-termination 2.
pub const ORDER: [&str; 8] = [
    "correlation-id",
    "cors",
    "jwt",
    "agent-permissions",
    "request-size-limiting",
    "rate-limiting",
    "prometheus",
    "request-termination",
];

fn parse<T: serde::de::DeserializeOwned>(where_: &str, p: &PluginEntity) -> Result<T, ConfigError> {
    let cfg = if p.config.is_null() {
        Value::Object(Default::default())
    } else {
        p.config.clone()
    };
    serde_json::from_value(cfg)
        .map_err(|e| ConfigError(format!("{where_}: plugin {}: {e}", p.name)))
}

impl Plugin {
    pub fn name(&self) -> &'static str {
        match self {
            Plugin::CorrelationId(_) => "correlation-id",
            Plugin::Cors(_) => "cors",
            Plugin::Jwt(_) => "jwt",
            Plugin::AgentPermissions(_) => "agent-permissions",
            Plugin::RequestSizeLimiting(_) => "request-size-limiting",
            Plugin::RateLimiting(_) => "rate-limiting",
            Plugin::Prometheus(_) => "prometheus",
            Plugin::RequestTermination(_) => "request-termination",
        }
    }

    /// Parses and checks one plugin entity found at `where_` (for messages).
    pub fn from_entity(where_: &str, p: &PluginEntity) -> Result<Plugin, ConfigError> {
        let unsupported = |what: &str| {
            err::<Plugin>(format!(
                "{where_}: plugin {}: {what} is not implemented by the fleet gateway",
                p.name
            ))
        };
        Ok(match p.name.as_str() {
            "correlation-id" => {
                let c: CorrelationConf = parse(where_, p)?;
                if !matches!(c.generator.as_str(), "uuid" | "uuid#counter") {
                    return unsupported(&format!("generator {}", c.generator));
                }
                Plugin::CorrelationId(c)
            }
            "cors" => {
                let c: CorsConf = parse(where_, p)?;
                if c.preflight_continue {
                    return unsupported("preflight_continue");
                }
                Plugin::Cors(c)
            }
            "jwt" => {
                let c: JwtConf = parse(where_, p)?;
                if !c.uri_param_names.is_empty() || !c.cookie_names.is_empty() {
                    return unsupported("reading tokens from URI parameters or cookies");
                }
                if c.anonymous.is_some() || c.secret_is_base64 {
                    return unsupported("anonymous / secret_is_base64");
                }
                if let Some(x) = c
                    .claims_to_verify
                    .iter()
                    .find(|x| !matches!(x.as_str(), "exp" | "nbf"))
                {
                    return unsupported(&format!("claims_to_verify {x}"));
                }
                Plugin::Jwt(c)
            }
            "agent-permissions" => {
                let c: AgentPermConf = parse(where_, p)?;
                if !c.permissions_url.contains("{agent_id}") {
                    return err(format!(
                        "{where_}: agent-permissions: permissions_url needs {{agent_id}}"
                    ));
                }
                Plugin::AgentPermissions(c)
            }
            "request-size-limiting" => {
                let c: SizeConf = parse(where_, p)?;
                if !matches!(c.size_unit.as_str(), "megabytes" | "kilobytes" | "bytes") {
                    return unsupported(&format!("size_unit {}", c.size_unit));
                }
                Plugin::RequestSizeLimiting(c)
            }
            "rate-limiting" => {
                let c: RateLimitConf = parse(where_, p)?;
                if !matches!(
                    c.limit_by.as_str(),
                    "ip" | "header" | "consumer" | "credential" | "service"
                ) {
                    return unsupported(&format!("limit_by {}", c.limit_by));
                }
                if c.limit_by == "header" && c.header_name.is_none() {
                    return err(format!(
                        "{where_}: rate-limiting: limit_by header needs header_name"
                    ));
                }
                if [c.second, c.minute, c.hour, c.day, c.month, c.year]
                    .iter()
                    .all(Option::is_none)
                {
                    return err(format!("{where_}: rate-limiting: no limit configured"));
                }
                Plugin::RateLimiting(c)
            }
            "prometheus" => Plugin::Prometheus(parse(where_, p)?),
            "request-termination" => Plugin::RequestTermination(parse(where_, p)?),
            other => {
                return err(format!(
                    "{where_}: plugin {other} is not implemented by the fleet gateway (it implements: {})",
                    ORDER.join(", ")
                ));
            }
        })
    }
}

/// Parses the file and checks it as a whole.
pub fn load(text: &str) -> Result<Declarative, ConfigError> {
    let d: Declarative =
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError(format!("kong.yaml: {e}")))?;
    if !d.format_version.starts_with("3.") {
        return err(format!(
            "_format_version {} (expected 3.x)",
            d.format_version
        ));
    }
    let mut names = HashMap::new();
    for s in &d.services {
        for r in &s.routes {
            if names.insert(r.name.clone(), ()).is_some() {
                return err(format!("route {} is defined twice", r.name));
            }
            if r.paths.is_empty() {
                return err(format!(
                    "route {}: routes without paths are not implemented",
                    r.name
                ));
            }
            if r.strip_path {
                return err(format!(
                    "route {}: strip_path true is not implemented",
                    r.name
                ));
            }
        }
    }
    Ok(d)
}
