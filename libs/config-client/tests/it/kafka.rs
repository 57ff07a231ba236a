//! The client fed from `config_events` alone (no Watch stream), against the config service
//! and the real broker.
use std::time::Duration;

use config::SERVICE;
use config_client::{ConfigClient, Context, EventFeed, Target};
use kit::contracts::events::{Envelope, topic};
use serde_json::json;
use testkit::Svc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const THEME: &str = "/api/v1/configs/demo.themes/default";

/// The config service as `fleet migrate` seeds it.
async fn service() -> Svc {
    let t = Svc::start(&SERVICE).await.expect("the service starts");
    let seed = SERVICE.seed.expect("config ships a seed");
    seed(t.db().owner.clone()).await.expect("the seed loads");
    t
}

/// A client following only the topic, as the demo service would.
fn follow(t: &Svc, namespaces: &[&str]) -> (ConfigClient, CancellationToken) {
    let client = ConfigClient::empty();
    let stop = CancellationToken::new();
    let feed = EventFeed {
        kafka: t.spawned().shared.config.kafka.clone(),
        name: "demo".into(),
        url: t.spawned().grpc.clone(),
        token: Some(
            kit::credentials::dev_credential(&t.spawned().shared.config, "demo")
                .expect("a credential"),
        ),
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
    };
    tokio::spawn(feed.run(client.clone(), stop.clone()));
    (client, stop)
}

fn platform_admin(t: &Svc) -> String {
    t.tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["platform_admin"])
}

async fn wait_until(
    client: &ConfigClient,
    what: &str,
    mut done: impl FnMut(&ConfigClient) -> bool,
) {
    let mut changes = client.changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(client) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client did not see {what}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), changes.changed()).await;
    }
}

#[tokio::test]
async fn a_change_published_on_config_events_reaches_a_client_without_the_watch_stream() {
    let t = service().await;
    let (org, admin) = (Uuid::new_v4(), platform_admin(&t));
    let tenant_admin = t.tokens.client(Uuid::new_v4(), org, "admin");
    let (client, stop) = follow(&t, &["demo.themes"]);
    let target = Target {
        organization_id: Some(org.to_string()),
        ..Target::default()
    };
    let primary = |c: &ConfigClient| {
        c.effective("demo.themes", "default", &target)
            .map(|m| m.value["colors"]["primary"].clone())
    };
    // The seeded defaults arrive as the topic is read from its start.
    wait_until(&client, "the seeded theme", |c| {
        primary(c) == Some(json!("#1F4E79"))
    })
    .await;
    t.put(THEME)
        .bearer(&tenant_admin)
        .json(json!({"value": {"colors": {"primary": "#00AA00"}}}))
        .expect(200)
        .await;
    wait_until(&client, "the tenant's override", |c| {
        primary(c) == Some(json!("#00AA00"))
    })
    .await;
    let m = client
        .effective("demo.themes", "default", &target)
        .expect("merged");
    assert_eq!(
        m.sources["/colors/primary"].layer,
        config_client::Layer::Tenant
    );
    assert_eq!(
        client
            .effective("demo.themes", "default", &Target::default())
            .map(|m| m.value["colors"]["primary"].clone()),
        Some(json!("#1F4E79")),
        "another organisation keeps the default"
    );
    t.put("/api/v1/flags/beta")
        .bearer(&admin)
        .json(json!({"kind": "boolean"}))
        .expect(200)
        .await;
    wait_until(&client, "the new flag", |c| {
        c.evaluate("beta", &Context::default()).enabled
    })
    .await;
    assert!(
        client.current().flag("beta").is_some(),
        "the flag's definition is held, not only its answer"
    );
    assert!(
        client
            .effective("agents", "sales-assistant", &Target::default())
            .is_none(),
        "a namespace the client does not hold is not fetched"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_schema_change_on_config_events_reaches_a_client_without_the_watch_stream() {
    let t = service().await;
    let admin = platform_admin(&t);
    let (client, stop) = follow(&t, &["demo.themes"]);
    wait_until(&client, "the seeded theme", |c| {
        c.effective("demo.themes", "default", &Target::default())
            .is_some()
    })
    .await;
    let mut schema = t
        .get("/api/v1/schemas/demo.themes")
        .bearer(&admin)
        .expect(200)
        .await["schema"]
        .clone();
    // The shipped default (8) still fits the tighter bound.
    schema["properties"]["border_radius_px"]["maximum"] = json!(12);
    let saved = t
        .put("/api/v1/schemas/demo.themes")
        .bearer(&admin)
        .json(json!({ "schema": schema }))
        .expect(200)
        .await;
    let revision = saved["revision"].as_i64().expect("revision") as i32;
    wait_until(&client, "the new schema", |c| {
        c.current().schema_revision("demo.themes") == Some(revision)
    })
    .await;
    assert_eq!(
        client.current().snapshot().schemas["demo.themes"]["properties"]["border_radius_px"]["maximum"],
        json!(12),
        "the schema held is the one written"
    );
    let events = t.assert_outbox("schema_changed").await;
    assert_eq!(events.len(), 1, "one event per schema write");
    stop.cancel();
}

/// Publishes `env` again on the service's `config_events`, as a late redelivery would.
async fn redeliver(t: &Svc, env: &Envelope) {
    let kafka = &t.spawned().shared.config.kafka;
    let producer = kit::events::Producer::new(kafka).expect("a producer");
    producer
        .send(
            &kafka.topic(topic::CONFIG),
            &env.organization_id,
            &serde_json::to_vec(env).expect("json"),
            &[],
        )
        .await
        .expect("published");
}

fn of_version(envs: &[Envelope], version: i64) -> Envelope {
    envs.iter()
        .find(|e| e.data["version"] == version)
        .unwrap_or_else(|| panic!("an event of version {version}"))
        .clone()
}

#[tokio::test]
async fn an_older_event_delivered_late_does_not_take_the_client_back() {
    let t = service().await;
    let (org, admin) = (Uuid::new_v4(), platform_admin(&t));
    let tenant_admin = t.tokens.client(Uuid::new_v4(), org, "admin");
    for primary in ["#111111", "#222222"] {
        t.put(THEME)
            .bearer(&tenant_admin)
            .json(json!({"value": {"colors": {"primary": primary}}}))
            .expect(200)
            .await;
    }
    t.put("/api/v1/flags/beta")
        .bearer(&admin)
        .json(json!({"kind": "boolean"}))
        .expect(200)
        .await;
    t.patch("/api/v1/flags/beta")
        .bearer(&admin)
        .json(json!({"enabled": false}))
        .expect(200)
        .await;
    let (client, stop) = follow(&t, &["demo.themes"]);
    let target = Target {
        organization_id: Some(org.to_string()),
        ..Target::default()
    };
    let primary = |c: &ConfigClient| {
        c.effective("demo.themes", "default", &target)
            .map(|m| m.value["colors"]["primary"].clone())
    };
    let settled = |c: &ConfigClient| {
        primary(c) == Some(json!("#222222"))
            && c.current().flag("beta").map(|f| f.version) == Some(2)
    };
    wait_until(&client, "the newest versions", settled).await;
    assert!(!client.evaluate("beta", &Context::default()).enabled);
    // The first versions' events again, then a new change behind them (a test's topics have
    // one partition, so it is read after them): once it is seen, the old ones have been read.
    let flags = t.assert_outbox("flag_changed").await;
    let themes: Vec<Envelope> = t
        .assert_outbox("config_changed")
        .await
        .into_iter()
        .filter(|e| e.data["organization_id"] == org.to_string().as_str())
        .collect();
    redeliver(&t, &of_version(&flags, 1)).await;
    redeliver(&t, &of_version(&themes, 1)).await;
    t.put("/api/v1/flags/sentinel")
        .bearer(&admin)
        .json(json!({"kind": "boolean"}))
        .expect(200)
        .await;
    wait_until(&client, "the change after the old events", |c| {
        c.current().flag("sentinel").is_some()
    })
    .await;
    assert_eq!(
        client.current().flag("beta").map(|f| f.version),
        Some(2),
        "the flag stays at its newest version"
    );
    assert!(
        !client.evaluate("beta", &Context::default()).enabled,
        "the kill switch stays off"
    );
    assert_eq!(primary(&client), Some(json!("#222222")));
    stop.cancel();
}
