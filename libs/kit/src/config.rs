//! Typed configuration from the environment.
//!
//! Two modes: `FLEET_ENV=development` fills in explicit local defaults (the datastores on
//! 127.0.0.1 that `make run` starts, secrets generated on the first start and kept under
//! `var/`) and says so in the log; any other value — including unset — is production, where
//! every connection setting and secret must be given and a missing one stops start-up with a
//! message naming it.
//!
//! Longer than most modules: every process-wide setting is read here, in one place, with its
//! development default and its error message; about a quarter is its unit tests.
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
    /// The retired shared internal credential (`FLEET_INTERNAL_TOKEN(_FILE)`): accepted in
    /// development only (see [`crate::credentials`]); production refuses to start with it.
    pub internal_token: Option<String>,
    /// `FLEET_INTERNAL_CALLERS_DIR`: the digests of the internal callers' tokens.
    pub internal_credentials_dir: Option<PathBuf>,
    /// `FLEET_METRICS_PORT`: where `/metrics` is served (one target per process).
    pub metrics_port: Option<u16>,
    /// `FLEET_EDGE_KEY_FILE`: the key the edge signs its injected headers with.
    pub edge_key_file: Option<PathBuf>,
    /// The internal credentials of the one service this configuration was made for (set by
    /// the runtime for each service's [`crate::Ctx`]).
    pub(crate) service_credentials: Option<crate::credentials::Credentials>,
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
        if internal_token.is_some() && !dev {
            return Err(ConfigError(
                "FLEET_INTERNAL_TOKEN(_FILE) is the retired shared credential: give each caller its own (FLEET_INTERNAL_CREDENTIAL_FILE, FLEET_INTERNAL_CALLERS_DIR)".into(),
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
            internal_credentials_dir: get("FLEET_INTERNAL_CALLERS_DIR").map(PathBuf::from),
            metrics_port: port("FLEET_METRICS_PORT")?,
            edge_key_file: get("FLEET_EDGE_KEY_FILE").map(PathBuf::from),
            service_credentials: None,
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

    /// Where a development run keeps what must survive a restart (generated secrets):
    /// `FLEET_STATE_DIR`, by default `var` in the working directory (`make run` runs from the
    /// checkout's root).
    pub fn state_dir(&self) -> PathBuf {
        self.get("FLEET_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("var"))
    }

    /// The file [`FleetConfig::dev_secret`] keeps `name` in.
    pub fn dev_secret_path(&self, name: &str) -> PathBuf {
        self.state_dir().join(name)
    }

    /// A development secret kept in `<state dir>/<name>`, so that later starts reuse it: read
    /// when the file exists, otherwise `generate`d once and created atomically with mode 600
    /// (written to a private temporary file, then linked into place without replacing
    /// anything, so processes starting together end up with the same value). A file that group
    /// or others may access is refused. Logs the path, never the value. Production never gets
    /// here: there the setting the secret stands in for is required.
    pub fn dev_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<Vec<u8>> {
        use std::{
            io::Write as _,
            os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
        };
        anyhow::ensure!(
            self.is_dev(),
            "{name}: secrets are generated only in development (FLEET_ENV=development)"
        );
        anyhow::ensure!(
            !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']),
            "{name:?} is not a plain file name"
        );
        let path = self.dev_secret_path(name);
        if let Some(value) = read_private(&path)? {
            tracing::info!(path = %path.display(), "development mode: using the kept secret");
            return Ok(value);
        }
        let dir = self.state_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        let value = generate()?;
        anyhow::ensure!(!value.is_empty(), "{name}: generated an empty secret");
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        // Only a crashed earlier process with this process's id can have left this name.
        let _ = std::fs::remove_file(&tmp);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&value)?;
                f.sync_all()
            });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            anyhow::bail!("writing {}: {e}", tmp.display());
        }
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::warn!(
                    path = %path.display(),
                    "development mode: generated a secret, kept (mode 600) for later starts"
                );
                Ok(value)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_private(&path)?
                .ok_or_else(|| anyhow::anyhow!("{} vanished while being created", path.display())),
            Err(e) => Err(anyhow::anyhow!("creating {}: {e}", path.display())),
        }
    }

    /// A raw setting (services read their own provider settings through this).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A typed setting: `default` when unset; a value that does not parse stops start-up with
    /// a message naming the variable (`ORG_AUTH_EXPIRY_SWEEP_SECS must be …, got "abc"`).
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse::<T>().map_err(|e| {
                ConfigError(format!(
                    "{key} must be a {}, got {v:?}: {e}",
                    std::any::type_name::<T>()
                ))
            }),
        }
    }

    /// A period in whole seconds, at least 1: `default` when unset, start-up stops naming the
    /// variable on anything else.
    pub fn secs_or(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{key} must be a positive whole number of seconds, got {v:?}"
                    ))
                }),
        }
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

/// The contents of a secret file, `None` when there is none. Refuses a file that is not a plain
/// file, that group or others may access, or that is empty.
fn read_private(path: &std::path::Path) -> anyhow::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    };
    anyhow::ensure!(meta.is_file(), "{} is not a file", path.display());
    let mode = meta.permissions().mode() & 0o777;
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{} holds a secret but its mode is {mode:03o}: make it private (chmod 600) or delete it to have a new one generated",
        path.display()
    );
    let value =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    anyhow::ensure!(
        !value.is_empty(),
        "{} is empty: delete it to have a new secret generated",
        path.display()
    );
    Ok(Some(value))
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
    fn typed_service_settings_name_the_variable() {
        let cfg = FleetConfig::from_map(map(&[
            ("FLEET_ENV", "development"),
            ("X_SWEEP_SECS", "abc"),
            ("X_ZERO_SECS", "0"),
            ("X_RATIO", "0.5"),
        ]))
        .expect("config");
        let err = cfg
            .secs_or("X_SWEEP_SECS", Duration::from_secs(60))
            .expect_err("abc is not a period");
        assert!(err.to_string().contains("X_SWEEP_SECS"), "{err}");
        assert!(cfg.secs_or("X_ZERO_SECS", Duration::from_secs(1)).is_err());
        assert_eq!(
            cfg.secs_or("X_UNSET_SECS", Duration::from_secs(7))
                .expect("default"),
            Duration::from_secs(7)
        );
        assert_eq!(cfg.parse_or("X_RATIO", 1.0_f64).expect("ratio"), 0.5);
        assert!(cfg.parse_or("X_SWEEP_SECS", 1_u32).is_err());
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

    fn with_state(dir: &std::path::Path) -> FleetConfig {
        FleetConfig::from_map(map(&[
            ("FLEET_ENV", "development"),
            ("FLEET_STATE_DIR", dir.to_str().expect("utf-8 path")),
        ]))
        .expect("dev config")
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("fleet-state-{}", uuid::Uuid::new_v4().simple()))
    }

    #[test]
    fn a_dev_secret_is_generated_once_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = temp_dir();
        let c = with_state(&dir.join("nested"));
        let first = c
            .dev_secret("key", || Ok(b"one".to_vec()))
            .expect("generated");
        assert_eq!(first, b"one");
        let path = c.dev_secret_path("key");
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = c
            .dev_secret("key", || panic!("must not generate again"))
            .expect("read back");
        assert_eq!(again, b"one");
        // No temporary files left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.join("nested"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("key")]);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = c
            .dev_secret("key", || Ok(b"two".to_vec()))
            .expect_err("readable by others");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn concurrent_starts_agree_on_one_dev_secret() {
        let dir = temp_dir();
        let c = with_state(&dir);
        let got: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u8)
                .map(|i| {
                    let c = &c;
                    s.spawn(move || {
                        c.dev_secret("key", || Ok(vec![b'a' + i; 16]))
                            .expect("secret")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        let on_disk = std::fs::read(c.dev_secret_path("key")).expect("file");
        assert!(
            got.iter().all(|v| *v == on_disk),
            "every caller has the kept value"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn dev_secrets_are_refused_in_production() {
        let c = FleetConfig::from_map(map(&[
            ("FLEET_REDIS_URL", "redis://x"),
            ("FLEET_KAFKA_BOOTSTRAP", "x:9092"),
            ("FLEET_JWT_ISSUER", "i"),
            ("FLEET_JWT_AUDIENCE", "a"),
            ("FLEET_STATE_DIR", "/nonexistent"),
        ]))
        .expect("prod config");
        assert!(c.dev_secret("key", || Ok(b"x".to_vec())).is_err());
    }

    #[test]
    fn the_shared_internal_token_is_refused_in_production() {
        let err = FleetConfig::from_map(map(&[
            ("FLEET_REDIS_URL", "redis://x"),
            ("FLEET_KAFKA_BOOTSTRAP", "x:9092"),
            ("FLEET_JWT_ISSUER", "i"),
            ("FLEET_JWT_AUDIENCE", "a"),
            ("FLEET_INTERNAL_TOKEN", "0123456789abcdef0123456789abcdef"),
        ]))
        .expect_err("must fail");
        assert!(err.0.contains("retired shared credential"), "{}", err.0);
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
