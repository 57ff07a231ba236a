use serde_json::json;

use crate::support::{THEME, platform_admin, service, tenant};

#[tokio::test]
async fn a_tenant_override_shows_in_the_effective_view_with_its_source() {
    let t = service().await;
    let a = tenant(&t);
    let written = t
        .put(THEME)
        .bearer(&a.admin)
        .json(json!({"yaml": "colors:\n  primary: '#AA0000'\n", "message": "brand red"}))
        .expect(200)
        .await;
    assert_eq!(written["layer"], "tenant");
    assert_eq!(written["version"], 1);
    let eff = t
        .get(&format!("{THEME}/effective"))
        .bearer(&a.admin)
        .expect(200)
        .await;
    assert_eq!(eff["value"]["colors"]["primary"], "#AA0000");
    assert_eq!(
        eff["value"]["colors"]["background"], "#FFFFFF",
        "the rest is the default"
    );
    assert_eq!(eff["sources"]["/colors/primary"]["layer"], "tenant");
    assert_eq!(eff["sources"]["/colors/background"]["layer"], "default");
    let event = t
        .assert_outbox_once(
            "config_changed",
            written["version_id"].as_str().expect("id"),
        )
        .await;
    assert_eq!(event.organization_id, a.org.to_string());
    assert_eq!(event.data["namespace"], "demo.themes");
    let b = tenant(&t);
    let theirs = t
        .get(&format!("{THEME}/effective"))
        .bearer(&b.admin)
        .expect(200)
        .await;
    assert_eq!(
        theirs["value"]["colors"]["primary"], "#1F4E79",
        "another tenant keeps the default"
    );
}

#[tokio::test]
async fn a_document_breaking_its_schema_is_refused_naming_path_and_rule() {
    let t = service().await;
    let a = tenant(&t);
    let changed = || async {
        let all = t.outbox_types().await.expect("outbox");
        all.iter().filter(|e| *e == "config_changed").count()
    };
    let seeded = changed().await;
    let p = t
        .put(THEME)
        .bearer(&a.admin)
        .json(json!({"value": {"colors": {"primary": "red"}, "typography": {"base_size_px": 99}}}))
        .expect_problem(422)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/config-schema-violation"),
        "{p}"
    );
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(fields.contains(&"/colors/primary"), "{p}");
    assert!(fields.contains(&"/typography/base_size_px"), "{p}");
    let detail = p["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("pattern") && detail.contains("maximum"),
        "{detail}"
    );
    assert_eq!(changed().await, seeded, "nothing is stored");
    let p = t
        .put("/api/v1/configs/no.such/thing")
        .bearer(&a.admin)
        .json(json!({"value": {}}))
        .expect_problem(422)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/config-no-schema"),
        "{p}"
    );
}

#[tokio::test]
async fn a_yaml_bomb_and_unreadable_yaml_are_refused_quickly() {
    let t = service().await;
    let a = tenant(&t);
    let mut bomb = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x]\n");
    for i in 1..12 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 9].join(",")
        ));
    }
    let started = std::time::Instant::now();
    for text in [bomb.as_str(), "colors: [1, 2", "a: 1\n---\nb: 2\n"] {
        let p = t
            .put(THEME)
            .bearer(&a.admin)
            .json(json!({"yaml": text}))
            .expect_problem(422)
            .await;
        assert!(
            p["type"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/config-unreadable-document"),
            "{p}"
        );
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_tenant_cannot_write_the_platform_layer_and_a_member_not_its_own() {
    let t = service().await;
    let a = tenant(&t);
    let body = json!({"layer": "default", "value": {"name": "mine"}});
    let p = t
        .put(THEME)
        .bearer(&a.admin)
        .json(&body)
        .expect_problem(403)
        .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("default layer"),
        "{p}"
    );
    let p = t
        .put(THEME)
        .bearer(&a.member)
        .json(json!({"value": {"name": "x"}}))
        .expect_problem(403)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/config-layer-forbidden"),
        "{p}"
    );
    let admin = platform_admin(&t);
    let d = t
        .put(THEME)
        .bearer(&admin)
        .json(json!({"layer": "tier", "scope": "enterprise", "value": {"border_radius_px": 0}}))
        .expect(200)
        .await;
    assert_eq!(d["scope"], "enterprise");
    let eff = t
        .get(&format!("{THEME}/effective"))
        .bearer(&a.admin)
        .query("tier", "enterprise")
        .expect(200)
        .await;
    assert_eq!(eff["value"]["border_radius_px"], 0);
    assert_eq!(eff["sources"]["/border_radius_px"]["scope"], "enterprise");
}

#[tokio::test]
async fn versions_are_kept_diffed_and_rolled_back_but_not_across_keys() {
    let t = service().await;
    let a = tenant(&t);
    let v1 = t
        .put(THEME)
        .bearer(&a.admin)
        .json(json!({"value": {"name": "One"}}))
        .expect(200)
        .await;
    let v2 = t
        .put(THEME)
        .bearer(&a.admin)
        .json(json!({"value": {"name": "Two", "border_radius_px": 4}}))
        .expect(200)
        .await;
    assert_eq!(v2["version"], 2);
    let list = t
        .get(&format!("{THEME}/versions"))
        .bearer(&a.admin)
        .expect(200)
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let d = t
        .get(&format!("{THEME}/diff"))
        .bearer(&a.admin)
        .query("from", v1["version_id"].as_str().expect("id"))
        .query("to", v2["version_id"].as_str().expect("id"))
        .expect(200)
        .await;
    assert_eq!(
        d["changes"],
        json!([
        {"op": "replace", "path": "/name", "from": "One", "to": "Two"},
        {"op": "add", "path": "/border_radius_px", "to": 4}])
    );
    let back = t
        .post(&format!("{THEME}/rollback"))
        .bearer(&a.admin)
        .json(json!({"version_id": v1["version_id"]}))
        .expect(201)
        .await;
    assert_eq!(
        (back["version"].clone(), back["value"].clone()),
        (json!(3), json!({"name": "One"}))
    );
    let p = t
        .post("/api/v1/configs/demo.themes/dark/rollback")
        .bearer(&a.admin)
        .json(json!({"version_id": v1["version_id"]}))
        .expect_problem(422)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/config-version-of-another-document"),
        "{p}"
    );
    let mut tx = t.system_tx().await.expect("tx");
    let refused = sqlx::query("UPDATE document_versions SET value = '{}'::jsonb")
        .execute(&mut *tx)
        .await;
    assert!(
        refused.map_or(true, |r| r.rows_affected() == 0),
        "versions are immutable"
    );
}

#[tokio::test]
async fn reads_carry_an_etag_and_answer_304_when_unchanged() {
    let t = service().await;
    let a = tenant(&t);
    let res = t
        .spawned()
        .http
        .get(t.spawned().url(&format!("{THEME}/effective")))
        .bearer_auth(&a.admin)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 200);
    let tag = res.headers()["etag"].to_str().expect("ascii").to_string();
    let again = t
        .spawned()
        .http
        .get(t.spawned().url(&format!("{THEME}/effective")))
        .bearer_auth(&a.admin)
        .header("if-none-match", &tag)
        .send()
        .await
        .expect("answer");
    assert_eq!(again.status(), 304);
    t.put(THEME)
        .bearer(&a.admin)
        .json(json!({"value": {"name": "New"}}))
        .expect(200)
        .await;
    let changed = t
        .spawned()
        .http
        .get(t.spawned().url(&format!("{THEME}/effective")))
        .bearer_auth(&a.admin)
        .header("if-none-match", &tag)
        .send()
        .await
        .expect("answer");
    assert_eq!(changed.status(), 200);
}

#[tokio::test]
async fn schemas_are_registered_by_platform_admins_and_must_compile() {
    let t = service().await;
    let a = tenant(&t);
    let admin = platform_admin(&t);
    let schema = json!({"schema": {"type": "object", "properties": {"depth": {"type": "integer", "maximum": 5}}}});
    t.put("/api/v1/schemas/research.scraping_rules")
        .bearer(&a.admin)
        .json(&schema)
        .expect_problem(403)
        .await;
    t.put("/api/v1/schemas/research.scraping_rules")
        .bearer(&admin)
        .json(&schema)
        .expect(200)
        .await;
    let p = t
        .put("/api/v1/schemas/research.scraping_rules")
        .bearer(&admin)
        .json(json!({"schema": {"$ref": "https://example.com/remote.json"}}))
        .expect_problem(422)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/config-invalid-schema"),
        "{p}"
    );
    // PostgreSQL's jsonb holds no NUL: a schema carrying one is refused by name, not a 500.
    let p = t
        .put("/api/v1/schemas/research.scraping_rules")
        .bearer(&admin)
        .json(json!({"schema": {"type": "object", "x\u{0}": -1.5, "": "\u{0}"}}))
        .expect_problem(422)
        .await;
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("NUL"),
        "{p}"
    );
    let kept = t
        .get("/api/v1/schemas/research.scraping_rules")
        .bearer(&a.admin)
        .expect(200)
        .await;
    assert_eq!(
        kept["schema"], schema["schema"],
        "the refused schema changed nothing"
    );
    let p = t
        .put("/api/v1/schemas/demo.themes")
        .bearer(&admin)
        .json(json!({"schema": {"type": "object", "required": ["nope"]}}))
        .expect_problem(422)
        .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("demo.themes/"),
        "{p}"
    );
    let list = t.get("/api/v1/schemas").bearer(&a.admin).expect(200).await;
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .any(|s| s["namespace"] == "research.scraping_rules")
    );
}
