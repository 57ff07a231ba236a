//! `--only config`: flag evaluation in the client library (a boolean flag, a targeted
//! multivariate flag with payloads, a 30 % sticky rollout), the effective view read straight
//! from the config service and through `fleet gateway` (wrk, 500 rotating tenant tokens), and
//! change → visible over 200 writes through the HTTP API: the time from sending the write to
//! the change notification of a client fed by the `Watch` stream, and of one fed by
//! `config_events` alone (both following the same service, in-process).
use std::{
    cell::Cell,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use config_client::{ConfigClient, Context, EventFeed, Feed, FlagEntry, Snapshot, Target};
use kit::events::CancellationToken;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{per_op, wrk_args};

const THEME: &str = "/api/v1/configs/demo.themes/default";
const CHANGES: usize = 200;

pub fn run(rt: &tokio::runtime::Runtime, fleet: &str) -> anyhow::Result<()> {
    rt.block_on(evaluation())?;
    rt.block_on(change_to_visible())?;
    effective_reads(rt, fleet)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn flag(key: &str, def: Value) -> anyhow::Result<FlagEntry> {
    Ok(FlagEntry {
        key: key.into(),
        version: 1,
        definition: serde_json::from_value(def)?,
    })
}

/// ns per evaluation, median of 5 rounds of 200 000, over 1 024 organisations in turn.
async fn evaluation() -> anyhow::Result<()> {
    let client = ConfigClient::empty();
    client
        .replace(Snapshot {
            revision: 1,
            flags: vec![
                flag("new-editor", json!({"kind": "boolean"}))?,
                flag(
                    "pricing-page",
                    json!({"kind": "multivariate",
                    "variants": [
                        {"key": "control", "weight": 500, "payload": {"layout": "table"}},
                        {"key": "cards", "weight": 300, "payload": {"layout": "cards", "columns": 3}},
                        {"key": "compact", "weight": 200, "payload": {"layout": "compact"}}],
                    "rules": [
                        {"conditions": [
                            {"attribute": "tier", "operator": "in", "values": ["enterprise"]},
                            {"attribute": "industry", "operator": "in", "values": ["manufacturing", "retail"]},
                            {"attribute": "size", "operator": "gte", "values": ["100"]}],
                         "variant": "cards"},
                        {"conditions": [{"attribute": "region", "operator": "in", "values": ["eu", "uk"]}]}]}),
                )?,
                flag(
                    "ai-drafts",
                    json!({"kind": "boolean", "rules": [
                        {"rollout": {"percentage": 30, "stickiness": "organization"}}]}),
                )?,
            ],
            ..Snapshot::default()
        })
        .await?;
    let contexts: Vec<Context> = (0..1024)
        .map(|i| Context {
            organization_id: Some(Uuid::new_v4().to_string()),
            user_id: Some(Uuid::new_v4().to_string()),
            tier: Some(if i % 2 == 0 { "enterprise" } else { "growth" }.into()),
            industry: Some("manufacturing".into()),
            size: Some(50 + (i % 200)),
            region: Some("eu".into()),
        })
        .collect();
    let copy = client.current();
    println!("\n## config: flag evaluation in the client library (median of 5 rounds of 200 000)");
    for (label, key) in [
        ("boolean, no rules", "new-editor"),
        ("multivariate, targeted + payloads", "pricing-page"),
        ("30 % rollout, sticky per org", "ai-drafts"),
    ] {
        let (mut via_client, mut via_copy) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let i = Cell::new(0usize);
            via_client.push(per_op(200_000, || {
                let ctx = &contexts[i.get() & 1023];
                i.set(i.get() + 1);
                std::hint::black_box(client.evaluate(std::hint::black_box(key), ctx));
            }));
            via_copy.push(per_op(200_000, || {
                let ctx = &contexts[i.get() & 1023];
                i.set(i.get() + 1);
                std::hint::black_box(copy.evaluate(std::hint::black_box(key), ctx));
            }));
        }
        via_client.sort_by(f64::total_cmp);
        via_copy.sort_by(f64::total_cmp);
        println!(
            "{label:<36} {:>7.0} ns/eval (client)  {:>7.0} ns/eval (a held copy)",
            via_client[2], via_copy[2]
        );
    }
    let on = contexts
        .iter()
        .filter(|c| client.evaluate("ai-drafts", c).enabled)
        .count();
    println!("(rollout check: {on} of 1024 organisations in the 30 % rollout)");
    Ok(())
}

/// The client's `/colors/primary` for `org`'s view of the theme.
fn primary(c: &ConfigClient, org: Uuid) -> Option<Value> {
    let t = Target {
        organization_id: Some(org.to_string()),
        ..Target::default()
    };
    c.effective("demo.themes", "default", &t)
        .map(|m| m.value["colors"]["primary"].clone())
}

/// Waits until `c` shows `want` for `org` and returns when it did.
async fn seen(c: &ConfigClient, org: Uuid, want: &Value) -> Instant {
    let mut changes = c.changes();
    loop {
        if primary(c, org).as_ref() == Some(want) {
            return Instant::now();
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), changes.changed()).await;
    }
}

/// 200 writes of a tenant's theme override through the HTTP API, each timed from sending it
/// to its response, to the Watch-fed client's notification and to the Kafka-fed client's.
async fn change_to_visible() -> anyhow::Result<()> {
    let svc = testkit::spawn_with(
        &::config::SERVICE,
        &[("FLEET_DB_POOL_MAX", "8"), ("RUST_LOG", "warn")],
    )
    .await?;
    let seed = ::config::SERVICE.seed.context("config ships a seed")?;
    seed(svc.db.owner.clone()).await?;
    let token = kit::credentials::dev_credential(&svc.shared.config, "demo")?;
    let stop = CancellationToken::new();
    let dir = std::env::temp_dir().join(format!("fleet-bench-config-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let watched = ConfigClient::with_last_known_good(dir.join("watch.json"))?;
    tokio::spawn(
        Feed {
            url: svc.grpc.clone(),
            token: Some(token.clone()),
            namespaces: vec!["demo.themes".into()],
        }
        .run(watched.clone(), stop.clone()),
    );
    let evented = ConfigClient::with_last_known_good(dir.join("events.json"))?;
    tokio::spawn(
        EventFeed {
            kafka: svc.shared.config.kafka.clone(),
            name: "bench".into(),
            url: svc.grpc.clone(),
            token: Some(token),
            namespaces: vec!["demo.themes".into()],
        }
        .run(evented.clone(), stop.clone()),
    );
    let org = Uuid::new_v4();
    let admin = svc.tokens.client(Uuid::new_v4(), org, "admin");
    let url = svc.url(THEME);
    let (mut write, mut watch, mut kafka) = (Vec::new(), Vec::new(), Vec::new());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Two warm-up writes (the Kafka reader joins its group first), then the measured ones.
    for i in 0..CHANGES + 2 {
        let want = json!(format!("#{:06X}", i * 4099 % 0xFF_FFFF));
        let t0 = Instant::now();
        let put = async {
            let res = svc
                .http
                .put(&url)
                .bearer_auth(&admin)
                .json(&json!({"value": {"colors": {"primary": want}}}))
                .send()
                .await?;
            anyhow::ensure!(res.status() == 200, "write: {}", res.status());
            Ok(Instant::now())
        };
        let within = Duration::from_secs(if i < 2 { 60 } else { 10 });
        let (done, w, k) = tokio::join!(
            put,
            tokio::time::timeout(within, seen(&watched, org, &want)),
            tokio::time::timeout(within, seen(&evented, org, &want)),
        );
        let (done, w, k) = (
            done?,
            w.context("the watching client did not see a change")?,
            k.context("the client fed by config_events did not see a change")?,
        );
        if i >= 2 {
            write.push(ms(done - t0));
            watch.push(ms(w - t0));
            kafka.push(ms(k - t0));
        }
    }
    stop.cancel();
    println!("\n## config: change -> visible, {CHANGES} writes through the HTTP API (in-process)");
    for (label, v) in [
        ("write answered (PUT, 200)", &mut write),
        ("Watch-fed client notified", &mut watch),
        ("config_events-fed client notified", &mut kafka),
    ] {
        v.sort_by(f64::total_cmp);
        println!(
            "{label:<36} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v[v.len() - 1]
        );
    }
    svc.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The effective view of the seeded demo theme, straight to config and through the gateway,
/// from the release fleet (its databases migrated and seeded by `fleet migrate`).
fn effective_reads(rt: &tokio::runtime::Runtime, fleet: &str) -> anyhow::Result<()> {
    let offset = 16_000u16;
    let edge = crate::gateway::Edge::start(fleet, offset)?;
    let (gateway, script, tokens) = (&edge.gateway, &edge.script, &edge.tokens);
    let path = format!("{THEME}/effective");
    let direct = format!("http://127.0.0.1:{}{path}", 8110 + offset);
    let through = format!("http://{gateway}{path}");
    rt.block_on(check_reads(&direct, &tokens[0]))?;
    println!("\n## config: GET {path} (release fleet, wrk -t2 -d10s, 500 rotating tenant tokens)");
    println!(
        "{:<34} {:>10} {:>9} {:>9}",
        "path", "req/s", "p50 ms", "p99 ms"
    );
    wrk_args("direct, 64 connections", &direct, &["-s", script])?;
    wrk_args("through gateway, 64 connections", &through, &["-s", script])?;
    wrk_args("direct, 4 connections", &direct, &["-c4", "-s", script])?;
    wrk_args(
        "through gateway, 4 connections",
        &through,
        &["-c4", "-s", script],
    )?;
    Ok(())
}

/// One read before the load: the view is there (the fleet's databases were seeded).
async fn check_reads(url: &str, token: &str) -> anyhow::Result<()> {
    let res = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == 200,
        "GET {url}: {} (run `fleet migrate --target all` first)",
        res.status()
    );
    let body: Value = res.json().await?;
    anyhow::ensure!(
        body["value"]["colors"]["primary"].is_string(),
        "the effective theme has no primary colour: {body}"
    );
    Ok(())
}
