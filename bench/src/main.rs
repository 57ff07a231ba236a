//! `make bench`: the platform's benchmarks. Each prints its figures; comparisons are made side
//! by side in one run (ratios), since the machine is noisy. Not tests: nothing here asserts.
//!
//! Sections: `jwt` (full verification vs the bare RSA check), `startup` (the whole fleet: time
//! to all-ready, idle memory), `http` (wrk at 64 connections against `/healthz/live`,
//! org-auth's `/api/v1/auth/me` and a GET that reads a row under RLS), `outbox` (commit →
//! consumer effect, 1 000 events).
use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use kit::auth::{Claims, JwksSource, Signer, SigningKey, Verifier, VerifierConfig};
use uuid::Uuid;

mod agents;
mod chat;
mod config;
mod docs;
mod fetch;
mod gateway;
mod identity;
mod outbox;
mod retrieval;

const ISSUER: &str = "https://auth.workflow.local";
const AUDIENCE: &str = "workflow-platform";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let fleet = arg("--fleet").unwrap_or_else(|| "fleet".into());
    let only = arg("--only");
    let run = |s: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == s));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "# fleet benchmarks ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if run("jwt") {
        jwt()?;
    }
    if run("startup") || run("http") {
        let key = SigningKey::generate_pem()?;
        let dir = std::env::temp_dir().join(format!("fleet-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let key_file = dir.join("jwt.pem");
        std::fs::write(&key_file, &key)?;
        let offset = 12_000u16;
        let (child, ready) = start_fleet(&fleet, &key_file, offset)?;
        let mut child = Guard(child);
        println!("\n## fleet serve --target all (release)");
        println!(
            "time to all 18 ready        {:>8.0} ms",
            ready.as_secs_f64() * 1000.0
        );
        std::thread::sleep(Duration::from_secs(3));
        println!(
            "resident memory, idle       {:>8.1} MB",
            rss_mb(child.0.id())?
        );
        if run("http") {
            let signer = Signer::new(
                vec![SigningKey::from_pem(key.as_bytes(), None)?],
                ISSUER,
                AUDIENCE,
                Duration::from_secs(3600),
            )?;
            let token = signer.issue(Claims::client(
                Uuid::new_v4(),
                Some(Uuid::new_v4()),
                "admin",
            ))?;
            let base = format!("http://127.0.0.1:{}", 8100 + offset);
            println!("\n## HTTP, wrk -c64 -t2 -d10s, load generator on the same machine");
            println!(
                "{:<34} {:>10} {:>9} {:>9}",
                "endpoint", "req/s", "p50 ms", "p99 ms"
            );
            wrk("GET /healthz/live", &format!("{base}/healthz/live"), None)?;
            wrk(
                "GET /api/v1/auth/me (token only)",
                &format!("{base}/api/v1/auth/me?organizations=false"),
                Some(&token),
            )?;
            let _ = Command::new("kill")
                .args(["-TERM", &child.0.id().to_string()])
                .status();
            let _ = child.0.wait();
            rt.block_on(rls_get())?;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    if run("gateway") {
        gateway::run(&fleet)?;
    }
    if run("outbox") {
        rt.block_on(outbox::run())?;
    }
    if run("human-agent") {
        rt.block_on(agents::run())?;
    }
    if run("docs") {
        docs::run(&rt)?;
    }
    if run("chat") {
        chat::run(&rt)?;
    }
    if run("fetch") {
        fetch::run(&rt)?;
    }
    if run("retrieval") {
        retrieval::run(&rt)?;
    }
    if run("config") {
        config::run(&rt, &fleet)?;
    }
    if run("org-auth") {
        println!("\n## org-auth: wrk -c64 -t2 -d10s");
        rt.block_on(identity::run())?;
    }
    Ok(())
}

pub(crate) struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        testkit::terminate(&mut self.0);
    }
}

fn per_op(iters: u32, f: impl Fn()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(iters)
}

/// Full verification (header, key lookup, signature, claims, validation) against the bare
/// RS256 signature check of the same token with the same key, interleaved in rounds.
fn jwt() -> anyhow::Result<()> {
    let signer = Signer::new(
        vec![SigningKey::generate()?],
        ISSUER,
        AUDIENCE,
        Duration::from_secs(3600),
    )?;
    let verifier = Verifier::new(VerifierConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway: Duration::from_secs(30),
        source: JwksSource::Static(signer.jwks()),
    })?;
    let token = signer.issue(Claims::agent(
        Uuid::new_v4(),
        Uuid::new_v4(),
        &["sales_agent", "onboarding_specialist"],
    ))?;
    let (message, signature) = token.rsplit_once('.').context("token")?;
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)?;
    let key = verifier.key(signer.active_kid()).context("key")?;
    anyhow::ensure!(verifier.verify_full(&token).is_ok());
    anyhow::ensure!(key.verify_rs256(message.as_bytes(), &signature));
    let (mut full, mut bare, mut cached) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        full.push(per_op(4000, || {
            let _ = std::hint::black_box(verifier.verify_full(std::hint::black_box(&token)));
        }));
        bare.push(per_op(4000, || {
            let _ = std::hint::black_box(key.verify_rs256(message.as_bytes(), &signature));
        }));
        cached.push(per_op(4000, || {
            let _ = std::hint::black_box(verifier.verify_now(std::hint::black_box(&token)));
        }));
    }
    full.sort_by(f64::total_cmp);
    bare.sort_by(f64::total_cmp);
    cached.sort_by(f64::total_cmp);
    let (f, b) = (full[2], bare[2]);
    println!("\n## JWT RS256 verification (median of 5 rounds of 4 000)");
    println!("full verify path            {f:>8.0} ns/op");
    println!("bare RSA signature check    {b:>8.0} ns/op");
    println!("ratio full / bare           {:>8.2}", f / b);
    println!(
        "repeat of a verified token  {:>8.0} ns/op (the per-process cache of verified tokens)",
        cached[2]
    );
    revoked_list(&signer)
}

/// The revocation check on the hot path: a token of a live session verified (from the cache
/// of verified tokens, as a client's repeated requests are) by a verifier holding no
/// revocations and by one holding 10 000, interleaved.
fn revoked_list(signer: &Signer) -> anyhow::Result<()> {
    let verifier = || {
        Verifier::new(VerifierConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway: Duration::from_secs(30),
            source: JwksSource::Static(signer.jwks()),
        })
    };
    let (none, held) = (verifier()?, verifier()?);
    let until = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )? + 3600;
    for _ in 0..10_000 {
        held.revoked().apply(kit::auth::Revocation {
            session_id: Uuid::new_v4(),
            until,
        });
    }
    let mut claims = Claims::client(Uuid::new_v4(), Some(Uuid::new_v4()), "admin");
    claims.sid = Some(Uuid::new_v4());
    let token = signer.issue(claims)?;
    anyhow::ensure!(none.verify_now(&token).is_ok() && held.verify_now(&token).is_ok());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        a.push(per_op(200_000, || {
            let _ = std::hint::black_box(none.verify_now(std::hint::black_box(&token)));
        }));
        b.push(per_op(200_000, || {
            let _ = std::hint::black_box(held.verify_now(std::hint::black_box(&token)));
        }));
    }
    for v in [&mut a, &mut b] {
        v.sort_by(f64::total_cmp);
    }
    println!("\n## revocation list (median of 5 rounds)");
    println!(
        "verified token, no revocations held       {:>8.0} ns/op",
        a[2]
    );
    println!(
        "verified token, 10 000 revocations held   {:>8.0} ns/op  ({:.2}x)",
        b[2],
        b[2] / a[2]
    );
    Ok(())
}

/// `fleet` as the benchmarks run it: development settings on ports moved by `offset`, with
/// consumer groups and Redis keys of its own (never the ones `make run` uses).
pub(crate) fn fleet_command(fleet: &str, offset: u16) -> Command {
    let mut cmd = Command::new(fleet);
    cmd.env("FLEET_ENV", "development")
        .env("RUST_LOG", "warn")
        .env("FLEET_PORT_OFFSET", offset.to_string())
        .env("FLEET_JWT_ISSUER", ISSUER)
        .env("FLEET_JWT_AUDIENCE", AUDIENCE)
        .env(
            "FLEET_KAFKA_NAMESPACE",
            format!("bench{}_", Uuid::new_v4().simple()),
        )
        .env(
            "FLEET_RATE_LIMIT_NAMESPACE",
            format!("bench{}:", Uuid::new_v4().simple()),
        )
        .stdout(Stdio::null());
    cmd
}

pub(crate) fn start_fleet(
    fleet: &str,
    key_file: &std::path::Path,
    offset: u16,
) -> anyhow::Result<(Child, Duration)> {
    let started = Instant::now();
    let mut child = fleet_command(fleet, offset)
        .args(["serve", "--target", "all"])
        .env("FLEET_JWT_SIGNING_KEY_FILE", key_file)
        .spawn()
        .with_context(|| format!("starting {fleet}"))?;
    let client = probe::blocking_client()?;
    let mut pending: Vec<u16> = (8100..=8117).map(|p| p + offset).collect();
    while !pending.is_empty() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            bail!("fleet not ready after 60 s: {pending:?}");
        }
        if let Some(st) = child.try_wait()? {
            bail!("fleet exited: {st}");
        }
        pending.retain(|p| !client.ready(*p));
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok((child, started.elapsed()))
}

mod probe {
    //! A tiny blocking readiness probe (std only: no second HTTP client stack in the bench).
    use std::{
        io::{Read, Write},
        net::TcpStream,
        time::Duration,
    };

    pub struct Probe;

    pub fn blocking_client() -> anyhow::Result<Probe> {
        Ok(Probe)
    }

    impl Probe {
        pub fn ready(&self, port: u16) -> bool {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(b"GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .is_err()
            {
                return false;
            }
            let mut buf = [0u8; 16];
            s.read(&mut buf)
                .map(|n| buf[..n].starts_with(b"HTTP/1.1 200"))
                .unwrap_or(false)
        }
    }
}

pub(crate) fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    Ok(kb / 1024.0)
}

/// Runs wrk and prints req/s, p50 and p99.
pub(crate) fn wrk(label: &str, url: &str, token: Option<&str>) -> anyhow::Result<()> {
    let header = token.map(|t| format!("Authorization: Bearer {t}"));
    let args: Vec<&str> = match &header {
        Some(h) => vec!["-H", h],
        None => vec![],
    };
    wrk_args(label, url, &args).map(|_| ())
}

/// Runs wrk with extra arguments; prints req/s, p50 and p99 and returns (p50, p99) in ms.
pub(crate) fn wrk_args(label: &str, url: &str, extra: &[&str]) -> anyhow::Result<(f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c64", "-d10s", "--latency"]);
    cmd.args(extra);
    let out = cmd
        .arg(url)
        .output()
        .context("running wrk (make bench installs it)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let ms = |v: String| -> f64 {
        let v = v.trim();
        if let Some(x) = v.strip_suffix("us") {
            x.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(x) = v.strip_suffix("ms") {
            x.parse().unwrap_or(f64::NAN)
        } else if let Some(x) = v.strip_suffix('s') {
            x.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    let non2xx = field("Non-2xx or 3xx responses:");
    let (p50, p99) = (ms(field("50%")), ms(field("99%")));
    println!(
        "{label:<34} {:>10} {:>9.2} {:>9.2}{}",
        field("Requests/sec:"),
        ms(field("50%")),
        ms(field("99%")),
        if non2xx.is_empty() {
            String::new()
        } else {
            format!("  ({non2xx} non-2xx!)")
        }
    );
    Ok((p50, p99))
}

/// A GET that verifies the token and reads one row under RLS (the sample service of the test
/// kit, served by this process with the release build of the kit).
async fn rls_get() -> anyhow::Result<()> {
    let db = testkit::TestDb::new(testkit::sample::SERVICE.migrations).await?;
    let tokens = testkit::Tokens::new()?;
    let mut env = testkit::test_env(&[("RUST_LOG", "warn")]);
    env.insert("FLEET_DB_POOL_MAX".into(), "8".into());
    let config = kit::FleetConfig::from_map(env)?;
    let shared = kit::runtime::Shared::with_tokens(config, tokens.verifier.clone(), None)?;
    let mut pool_cfg = kit::store::PoolConfig::new(db.app_url(), "bench");
    pool_cfg.max_connections = 8;
    let fleet = kit::runtime::start(
        &shared,
        vec![kit::runtime::Launch {
            def: &testkit::sample::SERVICE,
            http: "127.0.0.1:0".parse()?,
            grpc: "127.0.0.1:0".parse()?,
            db: kit::store::connect_lazy(&pool_cfg)?,
        }],
    )
    .await?;
    let addr = fleet.services[0].http;
    let org = Uuid::new_v4();
    let token = tokens.client(Uuid::new_v4(), org, "admin");
    // A few rows per tenant, several tenants: the policy has something to filter.
    let http = reqwest::Client::new();
    let mut id = String::new();
    for (o, n) in [(org, 3), (Uuid::new_v4(), 3), (Uuid::new_v4(), 3)] {
        let t = tokens.client(Uuid::new_v4(), o, "admin");
        for i in 0..n {
            let res: serde_json::Value = http
                .post(format!("http://{addr}/api/v1/things"))
                .bearer_auth(&t)
                .json(&serde_json::json!({"name": format!("thing-{i}"), "quantity": 1}))
                .send()
                .await?
                .json()
                .await?;
            if o == org {
                id = res["id"].as_str().unwrap_or_default().to_string();
            }
        }
    }
    let url = format!("http://{addr}/api/v1/things/{id}");
    tokio::task::spawn_blocking(move || {
        wrk("GET /api/v1/things/{id} (RLS row)", &url, Some(&token))
    })
    .await??;
    fleet.stop().await;
    Ok(())
}

/// Shared between the writer and the consumer's observer.
pub type Stamps = Arc<Mutex<HashMap<String, Instant>>>;
