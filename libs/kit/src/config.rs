//! Typed configuration from the environment.
//!
//! Two modes: `FLEET_ENV=development` fills in explicit local defaults (the datastores on
//! 127.0.0.1 that `make run` starts, an ephemeral signing key generated at start-up) and says so
//! in the log; any other value — including unset — is production, where every connection
//! setting and secret must be given and a missing one stops start-up with a message naming it.
use std::{collections::HashMap, net::IpAddr, path::PathBuf, time::Duration};

use crate::service::ServiceDef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// JWT settings shared by issuer (org-auth) and verifiers (everyone).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// Where verifiers fetch public keys (org-auth's `/.well-known/jwks.json`).
    pub jwks_url: Option<String>,
    /// PEM private keys for signing, the first active (org-auth only). Comma-separated paths.
    pub signing_key_files: Vec<PathBuf>,
    pub signing_kid: Option<String>,
    pub access_ttl: Duration,
    pub leeway: Duration,
}

/// Process-wide configuration.
#[derive(Clone)]
pub struct FleetConfig {
    pub mode: Mode,
    pub bind_host: IpAddr,
    pub http_port: Option<u16>,
    pub grpc_port: Option<u16>,
    /// Added to every service's local ports, so two fleets can run on one machine.
    pub port_offset: u16,
    pub redis_url: String,
    pub kafka: events::KafkaConfig,
    /// Create missing topics at start-up (development; a cluster's Kafka is provisioned).
    pub create_topics: bool,
    pub pool_max: u32,
    pub db_app_role: Option<String>,
    pub jwt: JwtConfig,
    /// The credential internal callers (Kong, peers) present on internal-only endpoints.
    pub internal_token: Option<String>,
    pub otlp_endpoint: Option<String>,
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Directory of the file mailbox (development email).
    pub mailbox_dir: PathBuf,
    env: HashMap<String, String>,
}

impl std::fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately omits URLs (they may hold passwords) and tokens.
        f.debug_struct("FleetConfig")
            .field("mode", &self.mode)
            .field("bind_host", &self.bind_host)
            .field("pool_max", &self.pool_max)
            .finish_non_exhaustive()
    }
}

const DEV_POSTGRES: &str = "postgres://fleet_app@127.0.0.1:5432";
const DEV_POSTGRES_OWNER: &str = "postgres://fleet_owner@127.0.0.1:5432";

impl FleetConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(std::env::vars().collect())
    }

    /// Reads configuration from `env` (tests pass a map).
    pub fn from_map(env: HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
        let mode = match get("FLEET_ENV").as_deref() {
            Some("development") | Some("dev") | Some("test") => Mode::Development,
            _ => Mode::Production,
        };
        let dev = mode == Mode::Development;
        let mut missing = Vec::new();
        let mut need = |key: &str, dev_default: &str| -> String {
            match get(key) {
                Some(v) => v,
                None if dev => dev_default.to_string(),
                None => {
                    missing.push(key.to_string());
                    String::new()
                }
            }
        };
        let redis_url = need("FLEET_REDIS_URL", "redis://127.0.0.1:6379");
        let bootstrap = need("FLEET_KAFKA_BOOTSTRAP", "127.0.0.1:9092");
        let issuer = need("FLEET_JWT_ISSUER", "https://auth.workflow.local");
        let audience = need("FLEET_JWT_AUDIENCE", "workflow-platform");
        if !missing.is_empty() {
            return Err(ConfigError(format!(
                "missing required settings in production mode: {} (set them, or FLEET_ENV=development for local defaults)",
                missing.join(", ")
            )));
        }
        let parse_u = |k: &str, d: u64| -> Result<u64, ConfigError> {
            get(k)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| ConfigError(format!("{k} must be a whole number, got {v:?}")))
                })
                .transpose()
                .map(|v| v.unwrap_or(d))
        };
        let port = |k: &str| -> Result<Option<u16>, ConfigError> {
            get(k)
                .map(|v| {
                    v.parse::<u16>()
                        .map_err(|_| ConfigError(format!("{k} must be a port, got {v:?}")))
                })
                .transpose()
        };
        let bind_host = match get("FLEET_BIND_HOST") {
            Some(h) => h.parse().map_err(|_| {
                ConfigError(format!("FLEET_BIND_HOST must be an IP address, got {h:?}"))
            })?,
            None if dev => IpAddr::from([127, 0, 0, 1]),
            None => IpAddr::from([0, 0, 0, 0]),
        };
        let mut kafka = events::KafkaConfig::new(bootstrap);
        if dev {
            // Tansu completes a group join only after the rebalance timeout: keep it short.
            kafka.session_timeout_ms = 6_000;
            kafka.max_poll_interval_ms = 6_000;
            kafka.fetch_wait_max_ms = 10;
        }
        kafka.session_timeout_ms = parse_u(
            "FLEET_KAFKA_SESSION_TIMEOUT_MS",
            kafka.session_timeout_ms.into(),
        )? as u32;
        kafka.max_poll_interval_ms = parse_u(
            "FLEET_KAFKA_MAX_POLL_INTERVAL_MS",
            kafka.max_poll_interval_ms.into(),
        )? as u32;
        kafka.fetch_wait_max_ms = parse_u(
            "FLEET_KAFKA_FETCH_WAIT_MAX_MS",
            kafka.fetch_wait_max_ms.into(),
        )? as u32;
        kafka.namespace = get("FLEET_KAFKA_NAMESPACE").unwrap_or_default();
        if !kafka
            .namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(ConfigError(
                "FLEET_KAFKA_NAMESPACE may hold letters, digits, '.', '_' and '-' only".into(),
            ));
        }
        let internal_token = match get("FLEET_INTERNAL_TOKEN_FILE") {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError(format!("FLEET_INTERNAL_TOKEN_FILE {path}: {e}")))?
                    .trim()
                    .to_string(),
            ),
            None => get("FLEET_INTERNAL_TOKEN"),
        };
        if let Some(t) = &internal_token
            && t.len() < 32
        {
            return Err(ConfigError(
                "the internal service token must be at least 32 characters".into(),
            ));
        }
        Ok(FleetConfig {
            mode,
            bind_host,
            http_port: port("FLEET_HTTP_PORT")?,
            grpc_port: port("FLEET_GRPC_PORT")?,
            port_offset: port("FLEET_PORT_OFFSET")?.unwrap_or(0),
            redis_url,
            kafka,
            create_topics: get("FLEET_KAFKA_CREATE_TOPICS")
                .map(|v| v == "true" || v == "1")
                .unwrap_or(dev),
            pool_max: parse_u("FLEET_DB_POOL_MAX", 4)? as u32,
            db_app_role: get("FLEET_DB_APP_ROLE").or_else(|| dev.then(|| "fleet_app".into())),
            jwt: JwtConfig {
                issuer,
                audience,
                jwks_url: get("FLEET_JWT_JWKS_URL"),
                signing_key_files: get("FLEET_JWT_SIGNING_KEY_FILE")
                    .map(|v| v.split(',').map(|p| PathBuf::from(p.trim())).collect())
                    .unwrap_or_default(),
                signing_kid: get("FLEET_JWT_SIGNING_KID"),
                access_ttl: Duration::from_secs(parse_u("FLEET_JWT_ACCESS_TTL_SECS", 900)?),
                leeway: Duration::from_secs(parse_u("FLEET_JWT_LEEWAY_SECS", 30)?),
            },
            internal_token,
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            log_format: match get("FLEET_LOG_FORMAT").as_deref() {
                Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                _ if dev => LogFormat::Text,
                _ => LogFormat::Json,
            },
            body_limit: parse_u("FLEET_BODY_LIMIT_BYTES", 1024 * 1024)? as usize,
            request_timeout: Duration::from_secs(parse_u("FLEET_REQUEST_TIMEOUT_SECS", 30)?),
            mailbox_dir: get("FLEET_MAILBOX_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("var/mailbox")),
            env,
        })
    }

    /// Prefix of this fleet's Redis keys (rate limits, presence, the gateway's counters):
    /// `FLEET_RATE_LIMIT_NAMESPACE`, empty by default. Keeps fleets and tests sharing one Redis
    /// apart.
    pub fn redis_namespace(&self) -> &str {
        self.get("FLEET_RATE_LIMIT_NAMESPACE").unwrap_or_default()
    }

    pub fn is_dev(&self) -> bool {
        self.mode == Mode::Development
    }

    /// A raw setting (services read their own provider settings through this).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A setting that must be present in production; `dev_default` applies in development.
    pub fn require(&self, key: &str, dev_default: Option<&str>) -> Result<String, ConfigError> {
        match (self.get(key), dev_default) {
            (Some(v), _) => Ok(v.to_string()),
            (None, Some(d)) if self.is_dev() => Ok(d.to_string()),
            _ => Err(ConfigError(format!("{key} is required"))),
        }
    }

    /// The service's database URL as the application role: `<SERVICE>_DATABASE_URL`, else
    /// `DATABASE_URL` when this process serves only that service, else `FLEET_POSTGRES_URL`
    /// with the service's database appended, else (development) the local server.
    pub fn database_url(&self, def: &ServiceDef, only_target: bool) -> Result<String, ConfigError> {
        self.resolve_db(
            def,
            only_target,
            "DATABASE_URL",
            "FLEET_POSTGRES_URL",
            DEV_POSTGRES,
        )
    }

    /// The same for the owning role that runs migrations (`MIGRATE_DATABASE_URL`, …).
    pub fn migrate_database_url(
        &self,
        def: &ServiceDef,
        only_target: bool,
    ) -> Result<String, ConfigError> {
        self.resolve_db(
            def,
            only_target,
            "MIGRATE_DATABASE_URL",
            "FLEET_MIGRATE_POSTGRES_URL",
            DEV_POSTGRES_OWNER,
        )
    }

    fn resolve_db(
        &self,
        def: &ServiceDef,
        only_target: bool,
        single: &str,
        server: &str,
        dev: &str,
    ) -> Result<String, ConfigError> {
        let specific = format!("{}_{single}", def.env_prefix());
        if let Some(v) = self.get(&specific) {
            return Ok(v.to_string());
        }
        if only_target && let Some(v) = self.get(single) {
            return Ok(v.to_string());
        }
        let base = match self.get(server) {
            Some(v) => v.to_string(),
            None if self.is_dev() => dev.to_string(),
            None => {
                return Err(ConfigError(format!(
                    "{} needs a database: set {specific}, {single} or {server}",
                    def.name
                )));
            }
        };
        Ok(format!("{}/{}", base.trim_end_matches('/'), def.database))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn production_names_every_missing_setting() {
        let err = FleetConfig::from_map(map(&[])).expect_err("must fail");
        for key in [
            "FLEET_REDIS_URL",
            "FLEET_KAFKA_BOOTSTRAP",
            "FLEET_JWT_ISSUER",
            "FLEET_JWT_AUDIENCE",
        ] {
            assert!(err.0.contains(key), "{} should name {key}", err.0);
        }
    }

    #[test]
    fn development_defaults_are_local() {
        let c = FleetConfig::from_map(map(&[("FLEET_ENV", "development")])).expect("dev config");
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(c.kafka.bootstrap, "127.0.0.1:9092");
        assert!(c.is_dev());
        assert!(c.create_topics);
    }

    #[test]
    fn bad_numbers_are_named() {
        let err = FleetConfig::from_map(map(&[
            ("FLEET_ENV", "development"),
            ("FLEET_DB_POOL_MAX", "many"),
        ]))
        .expect_err("must fail");
        assert!(err.0.contains("FLEET_DB_POOL_MAX"));
    }

    #[test]
    fn short_internal_token_refused() {
        let err = FleetConfig::from_map(map(&[
            ("FLEET_ENV", "development"),
            ("FLEET_INTERNAL_TOKEN", "short"),
        ]))
        .expect_err("must fail");
        assert!(err.0.contains("internal service token"));
    }
}
