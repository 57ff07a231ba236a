use serde_json::json;

use crate::support::{platform_admin, service, tenant};

#[tokio::test]
async fn a_rollout_is_sticky_per_organisation_and_the_kill_switch_turns_it_off() {
    let t = service().await;
    let admin = platform_admin(&t);
    let flag = json!({"kind": "boolean", "rules": [
        {"conditions": [{"attribute": "tier", "operator": "in", "values": ["enterprise"]}]},
        {"rollout": {"percentage": 50, "stickiness": "organization"}}]});
    t.put("/api/v1/flags/new-editor")
        .bearer(&admin)
        .json(&flag)
        .expect(200)
        .await;
    let mut on = 0;
    for _ in 0..40 {
        let a = tenant(&t);
        let first = t
            .post("/api/v1/flags/evaluate")
            .bearer(&a.admin)
            .json(json!({"keys": ["new-editor"], "context": {"organization_id": "ignored"}}))
            .expect(200)
            .await;
        let e = &first["flags"]["new-editor"];
        let bucket = config_client::murmur::rollout_bucket(&a.org.to_string(), "new-editor");
        assert_eq!(
            e["enabled"],
            bucket <= 50,
            "the caller's own organisation is bucketed"
        );
        if e["enabled"] == true {
            on += 1;
            assert_eq!(e["reason"], "split");
        } else {
            assert_eq!(e["reason"], "default");
        }
        let again = t
            .post("/api/v1/flags/evaluate")
            .bearer(&a.admin)
            .json(json!({"keys": ["new-editor"]}))
            .expect(200)
            .await;
        assert_eq!(again["flags"]["new-editor"], *e, "sticky");
    }
    assert!((5..=35).contains(&on), "{on} of 40 in a 50% rollout");
    let ent = t
        .post("/api/v1/flags/evaluate")
        .bearer(&admin)
        .json(json!({"context": {"organization_id": "o1", "tier": "enterprise"}}))
        .expect(200)
        .await;
    assert_eq!(ent["flags"]["new-editor"]["reason"], "targeting_match");
    let killed = t
        .patch("/api/v1/flags/new-editor")
        .bearer(&admin)
        .json(json!({"enabled": false}))
        .expect(200)
        .await;
    assert_eq!(killed["version"], 2);
    let off = t
        .post("/api/v1/flags/evaluate")
        .bearer(&admin)
        .json(json!({"context": {"organization_id": "o1", "tier": "enterprise"}}))
        .expect(200)
        .await;
    assert_eq!(
        off["flags"]["new-editor"],
        json!({"enabled": false, "reason": "disabled"})
    );
    let events = t.assert_outbox("flag_changed").await;
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn a_rule_on_an_unknown_attribute_or_a_tenant_writing_flags_is_refused() {
    let t = service().await;
    let admin = platform_admin(&t);
    let p = t
        .put("/api/v1/flags/x")
        .bearer(&admin)
        .json(json!({"kind": "boolean", "rules": [{"conditions": [
            {"attribute": "shoe_size", "operator": "in", "values": ["9"]}]}]}))
        .expect_problem(422)
        .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("shoe_size"),
        "{p}"
    );
    let p = t
        .put("/api/v1/flags/x")
        .bearer(&admin)
        .json(
            json!({"kind": "multivariate", "variants": [{"key": "a", "weight": 1}],
                     "rules": [{"variant": "b"}]}),
        )
        .expect_problem(422)
        .await;
    assert_eq!(p["errors"][0]["field"], "rules[0].variant", "{p}");
    let a = tenant(&t);
    t.put("/api/v1/flags/x")
        .bearer(&a.admin)
        .json(json!({"kind": "boolean"}))
        .expect_problem(403)
        .await;
    let types = t.outbox_types().await.expect("outbox");
    assert!(
        !types.iter().any(|e| e == "flag_changed"),
        "nothing is stored"
    );
}

#[tokio::test]
async fn an_evaluation_context_that_is_not_an_object_is_refused_naming_it() {
    let t = service().await;
    let a = tenant(&t);
    for context in [json!([null, null]), json!("tier"), json!(7)] {
        let p = t
            .post("/api/v1/flags/evaluate")
            .bearer(&a.admin)
            .json(json!({"context": context, "keys": ["x"]}))
            .expect_problem(422)
            .await;
        assert!(p.to_string().contains("context"), "{p}");
    }
    let p = t
        .post("/api/v1/flags/evaluate")
        .bearer(&a.admin)
        .json(json!({"context": {}, "keys": ["ok", "nul\u{0}byte"]}))
        .expect_problem(422)
        .await;
    assert!(p.to_string().contains("keys[1]"), "{p}");
}
