//! Gateway overhead: a token-only GET (`/api/v1/auth/me?organizations=false`) straight to
//! org-auth and through `fleet gateway` (jwt, agent-permissions, the service's rate limit in
//! Redis, correlation-id, request-size, cors, prometheus), side by side in one run, twice.
//! 500 client tokens of 500 tenants rotate so the 1 000/min per-tenant limit never refuses.
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kit::auth::{Claims, Signer, SigningKey};
use uuid::Uuid;

use crate::{AUDIENCE, Guard, ISSUER, fleet_command, start_fleet, wrk_args};

/// A release fleet and `fleet gateway` in front of it, moved by a port offset, with 500 client
/// tokens of 500 tenants and the wrk script that sends them in turn (the gateway's 1 000/min
/// per tenant never refuses). Both processes stop when it is dropped.
pub(crate) struct Edge {
    _fleet: Guard,
    _gateway: Guard,
    dir: std::path::PathBuf,
    /// The gateway's `host:port`.
    pub gateway: String,
    pub tokens: Vec<String>,
    /// The wrk script's path.
    pub script: String,
}

impl Edge {
    pub(crate) fn start(fleet: &str, offset: u16) -> anyhow::Result<Edge> {
        let key = SigningKey::generate_pem()?;
        let dir = std::env::temp_dir().join(format!("fleet-bench-gw-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let key_file = dir.join("jwt.pem");
        std::fs::write(&key_file, &key)?;
        let (child, _) = start_fleet(fleet, &key_file, offset)?;
        let fleet_guard = Guard(child);
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let gw = fleet_command(fleet, offset)
            .current_dir(root)
            .arg("gateway")
            // Kong's credential and the edge key: the development ones the fleet keeps in var/.
            .spawn()
            .context("starting fleet gateway")?;
        let gateway_guard = Guard(gw);
        let gateway = format!("127.0.0.1:{}", 8000 + offset);
        let started = Instant::now();
        while std::net::TcpStream::connect(&gateway).is_err() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(20),
                "gateway did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let signer = Signer::new(
            vec![SigningKey::from_pem(key.as_bytes(), None)?],
            ISSUER,
            AUDIENCE,
            Duration::from_secs(3600),
        )?;
        let tokens: Vec<String> = (0..500)
            .map(|_| {
                signer.issue(Claims::client(
                    Uuid::new_v4(),
                    Some(Uuid::new_v4()),
                    "admin",
                ))
            })
            .collect::<Result<_, _>>()?;
        let script = dir.join("tokens.lua");
        std::fs::write(
            &script,
            format!(
                "tokens = {{ {} }}\ni = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(\"GET\", nil, {{[\"Authorization\"] = \"Bearer \" .. tokens[(i % #tokens) + 1]}})\nend\n",
                tokens
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )?;
        let script = script.to_string_lossy().to_string();
        Ok(Edge {
            _fleet: fleet_guard,
            _gateway: gateway_guard,
            dir,
            gateway,
            tokens,
            script,
        })
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn run(fleet: &str) -> anyhow::Result<()> {
    let offset = 14_000u16;
    let edge = Edge::start(fleet, offset)?;
    let (gateway, script) = (&edge.gateway, &edge.script);
    let path = "/api/v1/auth/me?organizations=false";
    let direct = format!("http://127.0.0.1:{}{path}", 8100 + offset);
    let through = format!("http://{gateway}{path}");
    println!("\n## gateway overhead (release, wrk -c64 -t2 -d10s, 500 rotating client tokens)");
    println!(
        "{:<34} {:>10} {:>9} {:>9}",
        "path", "req/s", "p50 ms", "p99 ms"
    );
    let mut rows = Vec::new();
    for _ in 0..2 {
        let d = wrk_args("direct to org-auth", &direct, &["-s", script])?;
        let g = wrk_args("through fleet gateway", &through, &["-s", script])?;
        rows.push((d, g));
    }
    // Four connections: the machine is not saturated, so the difference is the gateway's own
    // work per request (three local hops: client, Redis, upstream).
    let d = wrk_args("direct, 4 connections", &direct, &["-c4", "-s", script])?;
    let g = wrk_args(
        "through gateway, 4 connections",
        &through,
        &["-c4", "-s", script],
    )?;
    rows.push((d, g));
    for (i, ((d50, d99), (g50, g99))) in rows.iter().enumerate() {
        println!(
            "{}: overhead p50 {:+.2} ms, p99 {:+.2} ms (ratio p99 {:.2}x)",
            if i < 2 {
                format!("64 connections, round {}", i + 1)
            } else {
                "4 connections".into()
            },
            g50 - d50,
            g99 - d99,
            g99 / d99
        );
    }
    Ok(())
}
