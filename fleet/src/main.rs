//! `fleet`: the one binary of the platform. Each service is a library; this binary serves any
//! set of them (`--target org-auth` in a pod, `--target all` locally), applies their migrations,
//! and lists them.
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use kit::{FleetConfig, ServiceDef, runtime};

mod targets;

#[derive(Parser)]
#[command(name = "fleet", version, about = "The workflow platform's services in one binary", after_help = targets_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve services: `--target org-auth`, `--target org-auth,human-agent` or `--target all`.
    Serve {
        #[arg(long, env = "FLEET_TARGET", value_delimiter = ',', required = true)]
        target: Vec<String>,
    },
    /// Apply the services' database migrations (as the owning role) and grant the app role.
    Migrate {
        #[arg(long, env = "FLEET_TARGET", value_delimiter = ',', required = true)]
        target: Vec<String>,
    },
    /// List the services with their ports, databases, topics and build status.
    Targets {
        #[arg(long)]
        json: bool,
    },
    /// Print each service's OpenAPI document (built without serving; nothing connects):
    /// `{"<service>": {"status": ..., "public_prefixes": [...], "openapi": {...}}}`.
    Openapi {
        #[arg(long, value_delimiter = ',', default_value = "all")]
        target: Vec<String>,
    },
    /// Development stand-in for Kong: serves deploy/kong/kong.yaml in front of a local fleet
    /// (routing, jwt, agent-permissions, rate-limiting, correlation-id, request-size-limiting,
    /// cors, prometheus, request-termination). Production runs Kong with the same file.
    Gateway {
        /// The Kong declarative configuration.
        #[arg(
            long,
            env = "FLEET_GATEWAY_CONFIG",
            default_value = "deploy/kong/kong.yaml"
        )]
        config: std::path::PathBuf,
        /// Proxy listener (Kong's 8000); FLEET_PORT_OFFSET is added to the port.
        #[arg(long, env = "FLEET_GATEWAY_LISTEN", default_value = "127.0.0.1:8000")]
        listen: std::net::SocketAddr,
        /// Status listener with /metrics (Kong's status API); FLEET_PORT_OFFSET is added.
        #[arg(
            long,
            env = "FLEET_GATEWAY_STATUS_LISTEN",
            default_value = "127.0.0.1:8001"
        )]
        status_listen: std::net::SocketAddr,
    },
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
}

#[derive(Subcommand)]
enum AdminTask {
    /// Create the first platform admin; it then registers agents through human-agent.
    CreatePlatformAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform Admin")]
        name: String,
        /// Read the password from the first line of standard input (never from arguments,
        /// which other users can see).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn targets_help() -> String {
    let mut s = String::from("Targets (ARCHITECTURE §3):\n");
    for d in targets::ALL {
        s.push_str(&format!(
            "  {:<22} http {} grpc {}  db {:<13} {}\n",
            d.name,
            d.http_port,
            d.grpc_port,
            d.database,
            d.status.as_str()
        ));
    }
    s.push_str("  all                    every service above, in one process\n");
    s
}

/// Resolves target names; `all` expands to every service. Unknown names are an error that lists
/// the valid ones.
fn resolve(names: &[String]) -> anyhow::Result<Vec<&'static ServiceDef>> {
    let mut out: Vec<&'static ServiceDef> = Vec::new();
    for n in names {
        let n = n.trim();
        if n == "all" {
            return Ok(targets::ALL.to_vec());
        }
        match targets::ALL.iter().find(|d| d.name == n) {
            Some(d) if !out.iter().any(|o| o.name == d.name) => out.push(d),
            Some(_) => {}
            None => bail!(
                "unknown target {n:?}; valid targets: all, {}",
                targets::ALL
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if out.is_empty() {
        bail!("no target given");
    }
    Ok(out)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Targets { json } => {
            if json {
                let list: Vec<_> = targets::ALL
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "name": d.name, "number": d.number, "summary": d.summary,
                            "status": d.status.as_str(), "http_port": d.http_port,
                            "grpc_port": d.grpc_port, "database": d.database,
                            "publishes": d.publishes, "consumes": d.consumes,
                            "public_prefixes": d.public_prefixes,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", targets_help());
            }
            Ok(())
        }
        Command::Admin {
            task:
                AdminTask::CreatePlatformAdmin {
                    email,
                    name,
                    password_stdin,
                },
        } => {
            anyhow::ensure!(password_stdin, "--password-stdin is required");
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let cfg = FleetConfig::from_env()?;
            let (user, agent) =
                org_auth::admin::create_platform_admin(&cfg, &email, &name, password).await?;
            // The login lives in org-auth, the agent profile (which the edge's permissions
            // lookup reads) in human-agent: the operator tool writes each through its service.
            human_agent::admin::create_platform_admin_profile(&cfg, user, agent, &email, &name)
                .await?;
            println!("platform admin {email}: user_id {user}, agent_id {agent}");
            Ok(())
        }
        Command::Openapi { target } => {
            let defs = resolve(&target)?;
            let mut env: std::collections::HashMap<String, String> = std::env::vars().collect();
            env.entry("FLEET_ENV".into())
                .or_insert_with(|| "development".into());
            env.insert(
                "FLEET_MAILBOX_DIR".into(),
                std::env::temp_dir()
                    .join("fleet-openapi-mailbox")
                    .to_string_lossy()
                    .into(),
            );
            // Describing services needs throwaway keys, not the ones a development run keeps.
            let state = std::env::temp_dir().join(format!("fleet-openapi-{}", std::process::id()));
            env.insert("FLEET_STATE_DIR".into(), state.to_string_lossy().into());
            let described = async {
                let shared = runtime::Shared::from_config(FleetConfig::from_map(env)?, true)?;
                let mut out = serde_json::Map::new();
                for d in defs {
                    // The document as the service serves it at /openapi.json.
                    let mut openapi = runtime::describe(&shared, d).await?;
                    kit::openapi::finish(&mut openapi, d.name, d.summary, d.problems);
                    out.insert(
                        d.name.to_string(),
                        serde_json::json!({
                            "status": d.status.as_str(),
                            "public_prefixes": d.public_prefixes,
                            "openapi": openapi,
                        }),
                    );
                }
                anyhow::Ok(out)
            }
            .await;
            let _ = std::fs::remove_dir_all(&state);
            println!("{}", serde_json::to_string_pretty(&described?)?);
            Ok(())
        }
        Command::Gateway {
            config,
            listen,
            status_listen,
        } => {
            let cfg = FleetConfig::from_env()?;
            kit::telemetry::init(&cfg)?;
            anyhow::ensure!(
                cfg.is_dev(),
                "fleet gateway is a development stand-in; production runs Kong with deploy/kong/kong.yaml"
            );
            let kong_yaml = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let offset = |a: std::net::SocketAddr| {
                std::net::SocketAddr::new(a.ip(), a.port() + cfg.port_offset)
            };
            // Kong reaches `http://<service>:8080`; here each service listens on its own port.
            let upstreams = targets::ALL
                .iter()
                .map(|d| {
                    (
                        d.name.to_string(),
                        std::net::SocketAddr::from((
                            [127, 0, 0, 1],
                            cfg.http_port.unwrap_or(d.http_port) + cfg.port_offset,
                        )),
                    )
                })
                .collect();
            let jwks_url = cfg.jwt.jwks_url.clone().unwrap_or_else(|| {
                format!(
                    "http://127.0.0.1:{}/.well-known/jwks.json",
                    8100 + cfg.port_offset
                )
            });
            let jwks = kit::auth::Verifier::new(kit::auth::VerifierConfig {
                issuer: cfg.jwt.issuer.clone(),
                audience: cfg.jwt.audience.clone(),
                leeway: cfg.jwt.leeway,
                source: kit::auth::JwksSource::Remote {
                    url: jwks_url,
                    min_refresh: std::time::Duration::from_secs(2),
                },
            })?;
            // Kong's env vault: `{vault://env/fleet-kong-credential}` reads
            // FLEET_KONG_CREDENTIAL, `{vault://env/fleet-edge-key}` FLEET_EDGE_KEY.
            let mut vault: std::collections::HashMap<String, String> = std::env::vars()
                .map(|(k, v)| (k.to_ascii_lowercase().replace('_', "-"), v))
                .collect();
            // Otherwise what the services read: Kong's own credential (the retired shared
            // token when one is set, else the one kept in the state directory) and the edge key.
            if !vault.contains_key("fleet-kong-credential") {
                let kong = match &cfg.internal_token {
                    Some(t) => t.clone(),
                    None => kit::credentials::dev_credential(&cfg, kit::credentials::KONG)?,
                };
                vault.insert("fleet-kong-credential".to_string(), kong);
            }
            if !vault.contains_key("fleet-edge-key")
                && let Some(k) = runtime::edge_key_bytes(&cfg)?
            {
                vault.insert("fleet-edge-key".to_string(), String::from_utf8(k)?);
            }
            let gw = edge::Gateway::new(edge::Options {
                kong_yaml,
                upstreams,
                // One connection per concurrent request at most (the rate-limit check).
                redis: kit::cache::connect(&cfg.redis_url, 64)?,
                namespace: cfg.redis_namespace().to_string(),
                jwks: Some(jwks),
                vault,
            })
            .with_context(|| format!("{}", config.display()))?;
            let (listen, status_listen) = (offset(listen), offset(status_listen));
            let proxy = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let status = tokio::net::TcpListener::bind(status_listen)
                .await
                .with_context(|| format!("binding {status_listen}"))?;
            println!("gateway http://{listen}  status http://{status_listen}/metrics");
            let stop = kit::events::CancellationToken::new();
            let s = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                s.cancel();
            });
            std::sync::Arc::new(gw)
                .serve(proxy, Some(status), stop)
                .await
        }
        Command::Migrate { target } => {
            let defs = resolve(&target)?;
            let cfg = FleetConfig::from_env()?;
            kit::telemetry::init(&cfg)?;
            runtime::migrate(&cfg, &defs).await
        }
        Command::Serve { target } => {
            let started = Instant::now();
            let defs = resolve(&target)?;
            let cfg = FleetConfig::from_env()?;
            kit::telemetry::init(&cfg)?;
            if cfg.is_dev() {
                tracing::warn!(
                    "FLEET_ENV=development: local defaults in use; never run a deployment like this"
                );
            }
            let issues_tokens = defs.iter().any(|d| d.capabilities.issues_tokens);
            let shared = runtime::Shared::from_config(cfg, issues_tokens)?;
            let fleet = runtime::serve(&shared, &defs)
                .await
                .context("starting services")?;
            for s in &fleet.services {
                println!("{:<22} http://{}  grpc://{}", s.name, s.http, s.grpc);
            }
            let token = fleet.shutdown_token();
            let ready = {
                let waiting = fleet.wait_ready(std::time::Duration::from_secs(60));
                tokio::select! {
                    r = waiting => r,
                    _ = shutdown_signal() => { token.cancel(); false }
                }
            };
            if ready {
                tracing::info!(
                    services = fleet.services.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "all services ready"
                );
                println!(
                    "all {} services ready in {} ms",
                    fleet.services.len(),
                    started.elapsed().as_millis()
                );
            } else if !token.is_cancelled() {
                tracing::warn!(
                    "not every service is ready yet; they keep retrying their dependencies"
                );
            }
            tokio::spawn(async move {
                shutdown_signal().await;
                token.cancel();
            });
            fleet.wait().await;
            kit::telemetry::shutdown();
            Ok(())
        }
    }
}
