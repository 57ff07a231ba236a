//! org-auth: login latency next to the bare Argon2id hash (one at a time, then 4 and 64 at a
//! time under the hashing bound), refresh and verified-request throughput at 64 connections,
//! the token-only GET with and without 10 000 revocations held, the members list, and the
//! signup → verify → create-organisation flow.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use uuid::Uuid;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

/// A fresh client address per request: the per-IP limits (login 20/h) are not what is measured.
fn ip(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// `req` as the edge sends it: the client address it appends, signed with the service's edge
/// key (a service trusts a forwarded address only under the edge's signature).
fn through_edge(
    req: reqwest::RequestBuilder,
    edge: Option<&kit::auth::EdgeKey>,
    url: &str,
    n: usize,
) -> reqwest::RequestBuilder {
    let headers = vec![("x-forwarded-for".to_string(), ip(n))];
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    let mut req = req.header("x-forwarded-for", ip(n));
    if let Some(key) = edge {
        for (k, v) in testkit::client::edge_headers(key, "POST", &path, &headers, None) {
            req = req.header(k, v);
        }
    }
    req
}

async fn post(
    http: &reqwest::Client,
    edge: Option<&kit::auth::EdgeKey>,
    url: &str,
    n: usize,
    body: Value,
) -> anyhow::Result<Value> {
    let res = through_edge(http.post(url), edge, url, n)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "{url}: {}", res.status());
    Ok(res.json().await?)
}

/// `concurrency` sign-ins at a time, each from its own address, `total` in all: the latency of
/// those answered and how many the hashing bound turned away (503).
async fn logins_at(
    http: &reqwest::Client,
    edge: Option<kit::auth::EdgeKey>,
    url: String,
    users: &[String],
    concurrency: usize,
    total: usize,
    first_ip: usize,
) -> (Vec<f64>, usize) {
    let lat = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let (http, url, lat, edge) = (http.clone(), url.clone(), lat.clone(), edge.clone());
            let users = users.to_vec();
            tokio::spawn(async move {
                for k in (w..total).step_by(concurrency) {
                    let t = Instant::now();
                    let body =
                        json!({"email": users[k % users.len()], "password": "SecurePass123!"});
                    let Ok(res) = through_edge(http.post(&url), edge.as_ref(), &url, first_ip + k)
                        .json(&body)
                        .send()
                        .await
                    else {
                        continue;
                    };
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    let mut l = lat.lock().expect("lock");
                    match res.status().as_u16() {
                        200 => l.0.push(ms),
                        503 => l.1 += 1,
                        _ => {}
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let l = lat.lock().expect("lock");
    (l.0.clone(), l.1)
}

/// Runs wrk (64 connections, 10 s) against `url` with `token`: requests per second, p50 and
/// p99 in ms, and how many answers were not 2xx.
fn wrk_rate(url: &str, token: &str) -> anyhow::Result<(f64, f64, f64, u64)> {
    let out = std::process::Command::new("wrk")
        .args(["-t2", "-c64", "-d10s", "--latency", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let ms = |v: String| {
        let (n, scale) = if let Some(x) = v.strip_suffix("us") {
            (x.to_string(), 0.001)
        } else if let Some(x) = v.strip_suffix("ms") {
            (x.to_string(), 1.0)
        } else if let Some(x) = v.strip_suffix('s') {
            (x.to_string(), 1000.0)
        } else {
            (v, f64::NAN)
        };
        n.parse::<f64>().unwrap_or(f64::NAN) * scale
    };
    let rate = field("Requests/sec:").parse().unwrap_or(f64::NAN);
    let bad = field("Non-2xx or 3xx responses:").parse().unwrap_or(0);
    Ok((rate, ms(field("50%")), ms(field("99%")), bad))
}

/// The token-only GET with no revocation held and with 10 000 unrelated ones, interleaved
/// over three rounds: what holding the list costs a live token's request. The held
/// revocations expire two seconds after they are recorded (they stay held until pruned), so
/// the prune that ends a round empties the list for the next; a round in which the list's own
/// minutely prune struck early is measured again.
fn revocation_rounds(revoked: &kit::auth::Revoked, url: &str, token: &str) -> anyhow::Result<()> {
    let now = || -> anyhow::Result<i64> {
        Ok(i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs(),
        )?)
    };
    let (mut none, mut held) = (Vec::new(), Vec::new());
    let mut attempts = 0;
    while held.len() < 3 && attempts < 6 {
        attempts += 1;
        revoked.prune();
        anyhow::ensure!(revoked.is_empty(), "revocations left from the last round");
        none.push(wrk_rate(url, token)?);
        let until = now()? + 2;
        for _ in 0..10_000 {
            revoked.apply(kit::auth::Revocation {
                session_id: Uuid::now_v7(),
                until,
            });
        }
        let recorded = revoked.len();
        let run = wrk_rate(url, token)?;
        if recorded == 10_000 && revoked.len() == 10_000 {
            held.push(run);
        } else {
            none.pop();
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    revoked.prune();
    anyhow::ensure!(held.len() == 3, "the list was pruned during every round");
    for (label, runs) in [("none held", &none), ("10 000 held", &held)] {
        let rates: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.0)).collect();
        let bad: u64 = runs.iter().map(|r| r.3).sum();
        println!(
            "GET /auth/me?organizations=false, {label:<11} {} req/s, p99 {} ms{}",
            rates.join(" / "),
            runs.iter()
                .map(|r| format!("{:.2}", r.2))
                .collect::<Vec<_>>()
                .join(" / "),
            if bad > 0 {
                format!(" ({bad} non-2xx!)")
            } else {
                String::new()
            }
        );
    }
    let mean = |runs: &[(f64, f64, f64, u64)], f: fn(&(f64, f64, f64, u64)) -> f64| {
        runs.iter().map(f).sum::<f64>() / runs.len() as f64
    };
    println!(
        "revocations held, cost on the token-only GET: time per request {:.3}x, p99 {:.3}x (10 000 held / none, means of 3 interleaved rounds)",
        mean(&none, |r| r.0) / mean(&held, |r| r.0),
        mean(&held, |r| r.2) / mean(&none, |r| r.2)
    );
    Ok(())
}

pub async fn run() -> anyhow::Result<()> {
    let svc = testkit::spawn_with(
        &org_auth::SERVICE,
        &[("RUST_LOG", "warn"), ("FLEET_DB_POOL_MAX", "8")],
    )
    .await?;
    let http = reqwest::Client::new();
    let edge = svc.shared.edge.as_ref();
    let url = |p: &str| svc.url(p);
    let mut n = 0usize;
    let mut next = || {
        n += 1;
        n
    };

    // The flow, 20 times: signup → code from the mailbox → verify → create organisation.
    let mut flows = Vec::new();
    let mut users = Vec::new();
    let mut admin_org = None;
    for i in 0..20 {
        let email = format!(
            "bench{i}.{}@acme.com",
            &Uuid::new_v4().simple().to_string()[..6]
        );
        let t = Instant::now();
        post(&http, edge, &url("/api/v1/auth/signup"), next(), json!({"email": email, "password": "SecurePass123!", "full_name": "Bench", "company_name": "Bench Co"})).await?;
        let mail = notify::read_mailbox(&svc.mailbox, &email);
        let text = &mail.last().ok_or_else(|| anyhow::anyhow!("no mail"))?.text;
        let at = text
            .find("code is ")
            .ok_or_else(|| anyhow::anyhow!("no code"))?
            + 8;
        let v = post(
            &http,
            edge,
            &url("/api/v1/auth/verify-email"),
            next(),
            json!({"email": email, "verification_code": &text[at..at + 6]}),
        )
        .await?;
        let token = v["access_token"].as_str().unwrap_or_default().to_string();
        let res = http
            .post(url("/api/v1/organizations"))
            .bearer_auth(&token)
            .json(&json!({"organization_name": format!("Bench {i}")}))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "create org: {}", res.status());
        let org: Value = res.json().await?;
        if i == 0 {
            admin_org = Some((
                org["organization_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                org["access_token"].as_str().unwrap_or_default().to_string(),
            ));
        }
        flows.push(t.elapsed().as_secs_f64() * 1000.0);
        users.push(email);
    }

    // Login latency against the bare hash, interleaved.
    let (mut hash, mut login) = (Vec::new(), Vec::new());
    for i in 0..60 {
        let t = Instant::now();
        org_auth::hash_password("SecurePass123!".into())
            .await
            .map_err(|p| anyhow::anyhow!("{p}"))?;
        hash.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        post(
            &http,
            edge,
            &url("/api/v1/auth/login"),
            next(),
            json!({"email": users[i % users.len()], "password": "SecurePass123!"}),
        )
        .await?;
        login.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (h50, h95) = (pct(&mut hash, 0.5), pct(&mut hash, 0.95));
    let (l50, l95) = (pct(&mut login, 0.5), pct(&mut login, 0.95));
    let f50 = pct(&mut flows, 0.5);
    let f95 = pct(&mut flows, 0.95);
    println!("\n## org-auth (release, in-process, real PostgreSQL and Redis)");
    println!("Argon2id hash (m=19 MiB, t=2)   p50 {h50:>7.1} ms  p95 {h95:>7.1} ms");
    println!(
        "POST /auth/login                 p50 {l50:>7.1} ms  p95 {l95:>7.1} ms  (p95 / hash p50 = {:.2})",
        l95 / h50
    );
    println!(
        "signup → verify → create org     p50 {f50:>7.1} ms  p95 {f95:>7.1} ms  per flow (file mailbox)"
    );

    // Sign-ins at 4 and 64 at a time: the hashing bound keeps memory flat by turning the
    // excess away (503 with Retry-After) rather than queueing without end.
    for (c, total, base) in [(4usize, 40usize, 200_000usize), (64, 256, 300_000)] {
        let (mut ok, refused) = logins_at(
            &http,
            edge.cloned(),
            url("/api/v1/auth/login"),
            &users,
            c,
            total,
            base,
        )
        .await;
        println!(
            "POST /auth/login, {c:>2} at a time   p50 {:>7.1} ms  p95 {:>7.1} ms  ({} answered, {refused} turned away with 503)",
            pct(&mut ok, 0.5),
            pct(&mut ok, 0.95),
            ok.len()
        );
    }

    // Refresh throughput: 64 concurrent chains, each rotating its own token for 5 s.
    let mut tokens = Vec::new();
    for i in 0..64 {
        let v = post(
            &http,
            edge,
            &url("/api/v1/auth/login"),
            next(),
            json!({"email": users[i % users.len()], "password": "SecurePass123!"}),
        )
        .await?;
        tokens.push(v["refresh_token"].as_str().unwrap_or_default().to_string());
    }
    let lat = Arc::new(Mutex::new(Vec::new()));
    let end = Instant::now() + Duration::from_secs(5);
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, mut tok)| {
            let (http, url, lat) = (http.clone(), url("/api/v1/auth/refresh"), lat.clone());
            let edge = edge.cloned();
            tokio::spawn(async move {
                while Instant::now() < end {
                    let t = Instant::now();
                    let Ok(res) = through_edge(http.post(&url), edge.as_ref(), &url, 100_000 + i)
                        .json(&json!({"refresh_token": tok}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    if !res.status().is_success() {
                        break;
                    }
                    let Ok(v) = res.json::<Value>().await else {
                        break;
                    };
                    tok = v["refresh_token"].as_str().unwrap_or_default().to_string();
                    lat.lock()
                        .expect("lock")
                        .push(t.elapsed().as_secs_f64() * 1000.0);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let mut l = lat.lock().expect("lock").clone();
    let rate = l.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "POST /auth/refresh, 64 chains     {rate:>7.0} req/s  p50 {:>6.1} ms  p99 {:>6.1} ms",
        pct(&mut l, 0.5),
        pct(&mut l, 0.99)
    );

    // Token-verified request with a database read (the user's organisations), via wrk.
    let v = post(
        &http,
        edge,
        &url("/api/v1/auth/login"),
        next(),
        json!({"email": users[0], "password": "SecurePass123!"}),
    )
    .await?;
    let token = v["access_token"].as_str().unwrap_or_default().to_string();
    let me = url("/api/v1/auth/me");
    let t = token.clone();
    tokio::task::spawn_blocking(move || {
        crate::wrk("GET /auth/me (JWKS-verified, orgs read)", &me, Some(&t))
    })
    .await??;

    // The token-only GET (no database), with no revocation held and with 10 000.
    let me_token_only = url("/api/v1/auth/me?organizations=false");
    let revoked = svc.shared.verifier.revoked().clone();
    tokio::task::spawn_blocking(move || revocation_rounds(&revoked, &me_token_only, &token))
        .await??;

    // An authorised organisation read under RLS by one member: the members list.
    let (org, token) = admin_org.ok_or_else(|| anyhow::anyhow!("no organisation"))?;
    let members = url(&format!("/api/v1/organizations/{org}/members"));
    tokio::task::spawn_blocking(move || {
        crate::wrk("GET /organizations/{id}/members", &members, Some(&token))
    })
    .await??;
    svc.stop().await;
    Ok(())
}
