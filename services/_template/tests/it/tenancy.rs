use reqwest::Method;
use serde_json::json;
use service_template::SERVICE;
use testkit::Probe;

use crate::support::{service, tenant};

#[tokio::test]
async fn every_tenant_table_has_forced_row_level_security() {
    testkit::assert_forced_rls(&SERVICE, &[]).await;
}

#[tokio::test]
async fn another_tenants_note_ids_get_nothing_on_any_endpoint() {
    let t = service().await;
    let (a, b) = (tenant(&t), tenant(&t));
    let secret = format!("b-secret-{}", uuid::Uuid::new_v4().simple());
    let theirs = t
        .post("/api/v1/notes")
        .bearer(&b.token)
        .json(json!({"title": secret}))
        .expect(201)
        .await;
    let report = Probe::new(&t, a.token.as_str())
        .id("note_id", theirs["note_id"].as_str().expect("id"))
        .body(
            Method::PATCH,
            "/api/v1/notes/{note_id}",
            json!({"title": "mine now"}),
        )
        .secret(&secret)
        .run()
        .await;
    assert!(
        !report.probed.is_empty(),
        "the probe called the note endpoints"
    );
    let unchanged = t
        .get(&format!(
            "/api/v1/notes/{}",
            theirs["note_id"].as_str().expect("id")
        ))
        .bearer(&b.token)
        .expect(200)
        .await;
    assert_eq!(unchanged["title"], secret.as_str());
}
