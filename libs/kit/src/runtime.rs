//! Starting services: the resources a process shares, and each service's HTTP server, gRPC
//! server, outbox relay, consumers, jobs and health reporting — with graceful shutdown.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use crate::{
    config::FleetConfig,
    http::{HttpParts, assemble},
    metrics::Metrics,
    readiness::Readiness,
    service::{Ctx, ServiceDef},
};

/// What the services of one process share: configuration, the Redis pool, the Kafka producer,
/// the token verifier and (where tokens are issued) the signer.
#[derive(Clone)]
pub struct Shared {
    pub config: Arc<FleetConfig>,
    pub redis: cache::Pool,
    pub producer: events::Producer,
    pub verifier: auth::Verifier,
    pub signer: Option<auth::Signer>,
    /// The key the edge signs its injected headers with; `None`: they are never trusted.
    pub edge: Option<auth::EdgeKey>,
}

impl Shared {
    /// Builds the shared resources from configuration. Signing keys come from
    /// `FLEET_JWT_SIGNING_KEY_FILE`; in development without one, a key generated on the first
    /// start and kept in the state directory (`var/jwt-signing-key.pem`, mode 600) — there is no
    /// built-in key. Verifiers use `FLEET_JWT_JWKS_URL`, or the in-process signer's
    /// keys when the issuer runs in the same process.
    pub fn from_config(config: FleetConfig, needs_signer: bool) -> anyhow::Result<Self> {
        let signer = load_signer(&config, needs_signer)?;
        let source = match (&config.jwt.jwks_url, &signer) {
            (Some(url), _) => auth::JwksSource::Remote {
                url: url.clone(),
                min_refresh: Duration::from_secs(10),
            },
            (None, Some(s)) => auth::JwksSource::Static(s.jwks()),
            (None, None) => anyhow::bail!(
                "configuration: FLEET_JWT_JWKS_URL is required to verify tokens (org-auth's /.well-known/jwks.json)"
            ),
        };
        let verifier = auth::Verifier::new(auth::VerifierConfig {
            issuer: config.jwt.issuer.clone(),
            audience: config.jwt.audience.clone(),
            leeway: config.jwt.leeway,
            source,
        })?;
        Self::with_tokens(config, verifier, signer)
    }

    /// Shared resources with a given verifier and signer (tests bring their own keys).
    pub fn with_tokens(
        config: FleetConfig,
        verifier: auth::Verifier,
        signer: Option<auth::Signer>,
    ) -> anyhow::Result<Self> {
        let redis = cache::connect(&config.redis_url, 32)?;
        let producer = events::Producer::new(&config.kafka)?;
        let edge = edge_key(&config)?;
        Ok(Shared {
            config: Arc::new(config),
            redis,
            producer,
            verifier,
            signer,
            edge,
        })
    }
}

/// The edge key: `FLEET_EDGE_KEY_FILE` (at least 32 bytes); in development without one, a key
/// generated once into the state directory (`var/edge-key`), which `fleet gateway` reads too.
/// Production without one trusts no edge header (said once in the log).
pub fn edge_key(config: &FleetConfig) -> anyhow::Result<Option<auth::EdgeKey>> {
    match edge_key_bytes(config)? {
        Some(k) => Ok(Some(auth::EdgeKey::new(&k).context("FLEET_EDGE_KEY_FILE")?)),
        None => {
            tracing::warn!(
                "FLEET_EDGE_KEY_FILE is not set: X-Agent-* and X-Forwarded-For from the edge are never trusted (tokens' own permissions, socket peer addresses)"
            );
            Ok(None)
        }
    }
}

/// The edge key's bytes (the file's text, trimmed), as the edge is given them too.
pub fn edge_key_bytes(config: &FleetConfig) -> anyhow::Result<Option<Vec<u8>>> {
    let bytes = match &config.edge_key_file {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("FLEET_EDGE_KEY_FILE: cannot read {}", path.display()))?,
        None if config.is_dev() => config
            .dev_secret("edge-key", || {
                let mut raw = [0u8; 32];
                getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("random: {e}"))?;
                Ok(raw
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .into_bytes())
            })
            .context("development edge key (or set FLEET_EDGE_KEY_FILE)")?,
        None => return Ok(None),
    };
    Ok(Some(
        String::from_utf8(bytes.clone())
            .map(|t| t.trim().as_bytes().to_vec())
            .unwrap_or(bytes),
    ))
}

fn load_signer(config: &FleetConfig, needed: bool) -> anyhow::Result<Option<auth::Signer>> {
    let mut keys = Vec::new();
    for (i, path) in config.jwt.signing_key_files.iter().enumerate() {
        let pem = std::fs::read(path).with_context(|| {
            format!("FLEET_JWT_SIGNING_KEY_FILE: cannot read {}", path.display())
        })?;
        let kid = if i == 0 {
            config.jwt.signing_kid.clone()
        } else {
            None
        };
        keys.push(auth::SigningKey::from_pem(&pem, kid).with_context(|| {
            format!(
                "FLEET_JWT_SIGNING_KEY_FILE: {} is not an RSA private key",
                path.display()
            )
        })?);
    }
    if keys.is_empty() {
        if !needed {
            return Ok(None);
        }
        if !config.is_dev() {
            anyhow::bail!(
                "configuration: FLEET_JWT_SIGNING_KEY_FILE is required in production to issue tokens"
            );
        }
        // Kept in the state directory, so a restart does not log everyone out.
        let name = "jwt-signing-key.pem";
        let pem = config
            .dev_secret(name, || Ok(auth::SigningKey::generate_pem()?.into_bytes()))
            .context("development signing key (or set FLEET_JWT_SIGNING_KEY_FILE)")?;
        let key = auth::SigningKey::from_pem(&pem, None).with_context(|| {
            format!(
                "{} is not an RSA private key: delete it to have a new one generated",
                config.dev_secret_path(name).display()
            )
        })?;
        tracing::warn!(
            path = %config.dev_secret_path(name).display(),
            kid = key.kid(),
            "development mode: no FLEET_JWT_SIGNING_KEY_FILE, signing with the kept development key"
        );
        keys.push(key);
    }
    Ok(Some(auth::Signer::new(
        keys,
        config.jwt.issuer.clone(),
        config.jwt.audience.clone(),
        config.jwt.access_ttl,
    )?))
}

impl Shared {
    /// The resources `def` is built from. Its configuration carries its own internal
    /// credentials (`single`: this process serves only it).
    pub fn ctx(
        &self,
        def: &'static ServiceDef,
        db: store::PgPool,
        metrics: Metrics,
        single: bool,
    ) -> anyhow::Result<Ctx> {
        let credentials =
            crate::credentials::Credentials::load(&self.config, def.name, def.callers, single)
                .with_context(|| format!("{}: internal credentials", def.name))?;
        let mut config = (*self.config).clone();
        config.service_credentials = Some(credentials);
        // A namespace keeps separate fleets (tests) sharing one Redis apart.
        let keys = cache::KeySpace::new(self.config.redis_namespace(), def.name);
        Ok(Ctx {
            name: def.name,
            config: Arc::new(config),
            db,
            redis: self.redis.clone(),
            producer: self.producer.clone(),
            verifier: self.verifier.clone(),
            signer: self.signer.clone(),
            limiter: cache::RateLimiter::new(self.redis.clone(), &keys),
            keys,
            metrics,
        })
    }
}

/// A service's public API description, built without serving it (nothing connects).
pub async fn describe(
    shared: &Shared,
    def: &'static ServiceDef,
) -> anyhow::Result<serde_json::Value> {
    let url = shared.config.database_url(def, false)?;
    let db = store::connect_lazy(&store::PoolConfig::new(url, "fleet-describe"))?;
    let parts = (def.build)(shared.ctx(def, db, Metrics::new(def.name), false)?)
        .await
        .with_context(|| format!("building {}", def.name))?;
    let (_, openapi) = parts.router.split_for_parts();
    Ok(serde_json::to_value(openapi)?)
}

/// One service to start, with its addresses and database pool.
pub struct Launch {
    pub def: &'static ServiceDef,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub db: store::PgPool,
}

/// A started service.
#[derive(Clone)]
pub struct Running {
    pub name: &'static str,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    /// `/metrics` (its own port).
    pub metrics: SocketAddr,
    pub readiness: Readiness,
    pub db: store::PgPool,
}

/// Started services and their tasks.
pub struct Fleet {
    pub services: Vec<Running>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    pub fn service(&self, name: &str) -> Option<&Running> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until every service reports ready, or `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut all = true;
            for s in &self.services {
                if !s.readiness.is_ready().await {
                    all = false;
                    break;
                }
            }
            if all {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resolves when shutdown has been requested and every task has finished.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.join().await;
    }

    /// Requests shutdown and waits (up to 10 s) for in-flight work to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.join().await;
    }

    async fn join(self) {
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 10 s");
        }
    }
}

/// Starts each launch: binds its ports (so an address in use fails here), builds its parts and
/// spawns its servers and workers.
pub async fn start(shared: &Shared, launches: Vec<Launch>) -> anyhow::Result<Fleet> {
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    // One revocation list per process: its services share the verifier.
    tasks.push(tokio::spawn(crate::revocation::follow(
        shared.config.kafka.clone(),
        shared.verifier.revoked().clone(),
        shutdown.clone(),
    )));
    let mut services = Vec::new();
    let single = launches.len() == 1;
    for l in launches {
        let def = l.def;
        let metrics = Metrics::new(def.name);
        let metrics_handle = metrics.clone();
        let ctx = shared.ctx(def, l.db.clone(), metrics.clone(), single)?;
        let credentials = ctx.config.service_credentials.clone().unwrap_or_default();
        let parts = (def.build)(ctx)
            .await
            .with_context(|| format!("building {}", def.name))?;
        let readiness = Readiness::new(
            def.name,
            l.db.clone(),
            shared.redis.clone(),
            shared.producer.clone(),
            metrics.clone(),
        );
        let (routes, openapi) = parts.router.split_for_parts();
        let app = assemble(
            routes,
            openapi,
            HttpParts {
                internal: crate::grpc::InternalAuth::from_credentials(credentials.clone()),
                service: def.name,
                summary: def.summary,
                problems: def.problems,
                metrics,
                readiness: readiness.clone(),
                verifier: shared.verifier.clone(),
                edge: shared.edge.clone(),
                body_limit: shared.config.body_limit,
                timeout: shared.config.request_timeout,
            },
        );
        let http_listener = TcpListener::bind(l.http)
            .await
            .with_context(|| format!("{}: binding HTTP {}", def.name, l.http))?;
        let grpc_listener = TcpListener::bind(l.grpc)
            .await
            .with_context(|| format!("{}: binding gRPC {}", def.name, l.grpc))?;
        let metrics_at = metrics_addr(&shared.config, def, l.http, single);
        let metrics_listener = TcpListener::bind(metrics_at)
            .await
            .with_context(|| format!("{}: binding metrics {metrics_at}", def.name))?;
        let http_addr = http_listener.local_addr()?;
        let grpc_addr = grpc_listener.local_addr()?;
        let metrics_addr = metrics_listener.local_addr()?;
        let (m, token) = (metrics_handle.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(metrics_listener, crate::http::metrics_router(m))
                .with_graceful_shutdown(token.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(service = def.name, error = %e, "metrics server failed");
            }
        }));

        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(
                http_listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
            if let Err(e) = served {
                tracing::error!(service = def.name, error = %e, "HTTP server failed");
            }
        }));

        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(contracts::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let mut grpc = parts.grpc;
        grpc.add_service(health).add_service(reflection);
        // Every method is checked against the service's allow-list before its handler runs.
        let routes = tonic::service::Routes::from(grpc.routes().into_axum_router().layer(
            axum::middleware::from_fn_with_state(credentials.clone(), crate::grpc::gate),
        ));
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
            let served = tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, token.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(service = def.name, error = %e, "gRPC server failed");
            }
        }));

        // gRPC health follows readiness.
        let (r, token) = (readiness.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            let mut last = None;
            loop {
                let ready = r.is_ready().await;
                if last != Some(ready) {
                    let status = if ready {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    reporter.set_service_status("", status).await;
                    reporter.set_service_status(def.name, status).await;
                    last = Some(ready);
                }
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }));

        let relay = events::Relay::new(
            l.db.clone(),
            shared.producer.clone(),
            events::RelayConfig::default(),
        )
        .with_metrics(metrics_handle.relay.clone());
        tasks.push(tokio::spawn(relay.run(shutdown.clone())));

        for spec in parts.consumers {
            let mut cfg = events::ConsumerConfig::new(shared.config.kafka.clone());
            cfg.metrics = metrics_handle.consumers.clone();
            let (db, producer, token) = (l.db.clone(), shared.producer.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                let name = spec.name.clone();
                if let Err(e) = events::run_consumer(db, producer, spec, cfg, token).await {
                    tracing::error!(consumer = %name, error = %e, "consumer stopped");
                }
            }));
        }
        for job in parts.jobs {
            let name = job.name;
            let fut = job.start(shutdown.clone(), metrics_handle.clone());
            tasks.push(tokio::spawn(async move {
                fut.await;
                tracing::debug!(job = name, "job stopped");
            }));
        }
        tracing::info!(service = def.name, http = %http_addr, grpc = %grpc_addr, "service started");
        services.push(Running {
            name: def.name,
            http: http_addr,
            grpc: grpc_addr,
            metrics: metrics_addr,
            readiness,
            db: l.db,
        });
    }
    Ok(Fleet {
        services,
        shutdown,
        tasks,
    })
}

/// Where `def` serves `/metrics`: an ephemeral port beside an ephemeral HTTP port (tests),
/// `FLEET_METRICS_PORT` for a process serving one target, else its local metrics port.
fn metrics_addr(cfg: &FleetConfig, def: &ServiceDef, http: SocketAddr, single: bool) -> SocketAddr {
    let port = if http.port() == 0 {
        0
    } else {
        match cfg.metrics_port {
            Some(p) if single => p,
            _ => def.metrics_port().saturating_add(cfg.port_offset),
        }
    };
    SocketAddr::new(http.ip(), port)
}

/// Resolves the addresses and pools of `defs` from configuration and starts them.
pub async fn serve(shared: &Shared, defs: &[&'static ServiceDef]) -> anyhow::Result<Fleet> {
    let cfg = &shared.config;
    let single = defs.len() == 1;
    if !single && (cfg.http_port.is_some() || cfg.grpc_port.is_some() || cfg.metrics_port.is_some())
    {
        anyhow::bail!(
            "FLEET_HTTP_PORT, FLEET_GRPC_PORT and FLEET_METRICS_PORT apply only when serving one target"
        );
    }
    let mut launches = Vec::new();
    for def in defs {
        let url = cfg.database_url(def, single)?;
        let mut pool_cfg = store::PoolConfig::new(url, format!("fleet:{}", def.name));
        pool_cfg.max_connections = cfg.pool_max;
        launches.push(Launch {
            def,
            http: SocketAddr::new(
                cfg.bind_host,
                cfg.http_port
                    .unwrap_or(def.http_port.saturating_add(cfg.port_offset)),
            ),
            grpc: SocketAddr::new(
                cfg.bind_host,
                cfg.grpc_port
                    .unwrap_or(def.grpc_port.saturating_add(cfg.port_offset)),
            ),
            db: store::connect_lazy(&pool_cfg)?,
        });
    }
    if cfg.create_topics {
        let mut topics: Vec<String> = defs
            .iter()
            .flat_map(|d| d.publishes.iter().chain(d.consumes.iter()))
            // Every process follows the revocations.
            .chain(std::iter::once(&contracts::events::topic::REVOCATION))
            .flat_map(|t| [cfg.kafka.topic(t), events::dlq_topic(&cfg.kafka.topic(t))])
            .collect();
        topics.sort();
        topics.dedup();
        let kafka = cfg.kafka.clone();
        // Created before the consumers subscribe when the broker answers now (a consumer that
        // subscribes to a missing topic waits for its next metadata refresh); otherwise in the
        // background, retried, while the services start and report not ready.
        let now = tokio::time::timeout(
            Duration::from_secs(5),
            events::ensure_topics(&kafka, &topics, 3),
        )
        .await;
        if !matches!(now, Ok(Ok(()))) {
            tokio::spawn(async move {
                let mut delay = Duration::from_millis(500);
                loop {
                    match events::ensure_topics(&kafka, &topics, 3).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "creating topics failed; retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            });
        }
    }
    start(shared, launches).await
}

/// Applies each service's migrations as the owning role and grants the application role.
pub async fn migrate(cfg: &FleetConfig, defs: &[&'static ServiceDef]) -> anyhow::Result<()> {
    let single = defs.len() == 1;
    for def in defs {
        let url = cfg.migrate_database_url(def, single)?;
        let mut pool_cfg = store::PoolConfig::new(url, format!("fleet-migrate:{}", def.name));
        pool_cfg.max_connections = 1;
        let pool = store::connect_lazy(&pool_cfg)?;
        store::migrate(&pool, def.migrations, cfg.db_app_role.as_deref())
            .await
            .with_context(|| format!("migrating {}", def.name))?;
        if let Some(seed) = def.seed {
            seed(pool.clone())
                .await
                .with_context(|| format!("seeding {}", def.name))?;
        }
        pool.close().await;
        tracing::info!(service = def.name, "migrated");
    }
    Ok(())
}
