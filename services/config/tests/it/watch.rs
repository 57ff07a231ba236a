use std::time::Duration;

use config_client::{ConfigClient, Context, Feed, Target};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{THEME, platform_admin, service, tenant};

#[tokio::test]
async fn a_watching_client_sees_a_tenant_override_and_a_kill_switch_without_a_restart() {
    let t = service().await;
    let a = tenant(&t);
    let admin = platform_admin(&t);
    t.put("/api/v1/flags/beta")
        .bearer(&admin)
        .json(json!({"kind": "boolean"}))
        .expect(200)
        .await;
    let lkg = std::env::temp_dir().join(format!("config-watch-{}.json", uuid::Uuid::new_v4()));
    let client = ConfigClient::with_last_known_good(&lkg).expect("client");
    let stop = CancellationToken::new();
    let feed = Feed {
        url: t.spawned().grpc.clone(),
        // The demo service's development credential, as the service generated it.
        token: Some(
            kit::credentials::dev_credential(&t.spawned().shared.config, "demo")
                .expect("a credential"),
        ),
        namespaces: vec!["demo.themes".into()],
    };
    tokio::spawn(feed.run(client.clone(), stop.clone()));
    let mut changes = client.changes();
    let target = Target {
        organization_id: Some(a.org.to_string()),
        ..Target::default()
    };
    let primary = |c: &ConfigClient| {
        c.effective("demo.themes", "default", &target)
            .map(|m| m.value["colors"]["primary"].clone())
    };
    wait(&mut changes, || primary(&client) == Some(json!("#1F4E79"))).await;
    assert!(client.evaluate("beta", &Context::default()).enabled);
    t.put(THEME)
        .bearer(&a.admin)
        .json(json!({"value": {"colors": {"primary": "#00AA00"}}}))
        .expect(200)
        .await;
    wait(&mut changes, || primary(&client) == Some(json!("#00AA00"))).await;
    t.patch("/api/v1/flags/beta")
        .bearer(&admin)
        .json(json!({"enabled": false}))
        .expect(200)
        .await;
    wait(&mut changes, || {
        !client.evaluate("beta", &Context::default()).enabled
    })
    .await;
    stop.cancel();
    // The last known good copy holds the override for a restart while config is down.
    let restarted = ConfigClient::with_last_known_good(&lkg).expect("reads the copy");
    assert_eq!(primary(&restarted), Some(json!("#00AA00")));
    let _ = std::fs::remove_file(&lkg);
}

async fn wait(
    changes: &mut tokio::sync::watch::Receiver<std::sync::Arc<config_client::Copy>>,
    mut done: impl FnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client did not see the change"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), changes.changed()).await;
    }
}
