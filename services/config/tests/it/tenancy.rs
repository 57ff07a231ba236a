use config::SERVICE;
use serde_json::json;

use crate::support::{THEME, platform_admin, service, tenant};

#[tokio::test]
async fn every_tenant_table_has_forced_row_level_security() {
    testkit::assert_forced_rls(&SERVICE, &["schemas", "flags"]).await;
}

#[tokio::test]
async fn another_tenants_layer_and_versions_are_not_found_on_any_endpoint() {
    let t = service().await;
    let (a, b) = (tenant(&t), tenant(&t));
    let secret = format!("b-secret-{}", uuid::Uuid::new_v4().simple());
    let theirs = t
        .put(THEME)
        .bearer(&b.admin)
        .json(json!({"value": {"name": secret}}))
        .expect(200)
        .await;
    let b_version = theirs["version_id"].as_str().expect("id").to_string();
    let b_org = b.org.to_string();
    for path in [
        THEME.to_string(),
        format!("{THEME}/versions"),
        format!("{THEME}/effective"),
    ] {
        let p = t
            .get(&path)
            .bearer(&a.admin)
            .query("organization_id", &b_org)
            .expect_problem(404)
            .await;
        assert!(!p.to_string().contains(&secret), "{path}: {p}");
    }
    let p = t
        .get(&format!("{THEME}/diff"))
        .bearer(&a.admin)
        .query("from", &b_version)
        .query("to", &b_version)
        .expect_problem(404)
        .await;
    assert!(!p.to_string().contains(&secret));
    t.post(&format!("{THEME}/rollback"))
        .bearer(&a.admin)
        .json(json!({"version_id": b_version}))
        .expect_problem(404)
        .await;
    t.put(THEME)
        .bearer(&a.admin)
        .json(json!({"organization_id": b_org, "value": {"name": "mine now"}}))
        .expect_problem(404)
        .await;
    // A's own reads never show B's layer.
    let eff = t
        .get(&format!("{THEME}/effective"))
        .bearer(&a.admin)
        .expect(200)
        .await;
    assert!(!eff.to_string().contains(&secret));
    let unchanged = t.get(THEME).bearer(&b.admin).expect(200).await;
    assert_eq!(unchanged["value"]["name"], secret.as_str());
    assert_eq!(unchanged["version"], 1);
    // A platform admin reaches B's layer by naming the organisation.
    let admin = platform_admin(&t);
    let seen = t
        .get(THEME)
        .bearer(&admin)
        .query("layer", "tenant")
        .query("organization_id", &b_org)
        .expect(200)
        .await;
    assert_eq!(seen["value"]["name"], secret.as_str());
}

#[tokio::test]
async fn clients_cannot_read_flag_definitions() {
    let t = service().await;
    let a = tenant(&t);
    t.get("/api/v1/flags")
        .bearer(&a.admin)
        .expect_problem(403)
        .await;
    t.get("/api/v1/flags/anything")
        .bearer(&a.admin)
        .expect_problem(403)
        .await;
}
