use config_client::{
    ConfigClient, FlagEntry, Snapshot,
    openfeature::{EvaluationContext, EvaluationReason, FeatureProvider, Provider},
};
use serde_json::json;

async fn provider() -> Provider {
    let c = ConfigClient::empty();
    let flag = |key: &str, def: serde_json::Value| FlagEntry {
        key: key.into(),
        version: 1,
        definition: serde_json::from_value(def).expect("flag"),
    };
    c.replace(Snapshot {
        revision: 1,
        flags: vec![
            flag(
                "enterprise-only",
                json!({"kind": "boolean", "rules": [{"conditions": [
                    {"attribute": "tier", "operator": "in", "values": ["enterprise"]}]}]}),
            ),
            flag(
                "theme",
                json!({"kind": "multivariate", "variants": [
                    {"key": "dark", "weight": 1000, "payload": {"background": "#111"}}]}),
            ),
        ],
        ..Snapshot::default()
    })
    .await
    .expect("accepted");
    Provider::new(c)
}

#[tokio::test]
async fn flags_resolve_through_the_openfeature_interface_with_reasons() {
    let p = provider().await;
    let ctx = EvaluationContext::default()
        .with_targeting_key("user-1")
        .with_custom_field("tier", "enterprise");
    let on = p
        .resolve_bool_value("enterprise-only", &ctx)
        .await
        .expect("resolves");
    assert!(on.value);
    assert_eq!(on.reason, Some(EvaluationReason::TargetingMatch));
    let off = p
        .resolve_bool_value("enterprise-only", &EvaluationContext::default())
        .await
        .expect("resolves");
    assert!(!off.value);
    assert_eq!(off.reason, Some(EvaluationReason::Default));
    let s = p
        .resolve_struct_value("theme", &ctx)
        .await
        .expect("payload");
    assert_eq!(s.variant.as_deref(), Some("dark"));
    assert!(s.value.fields.contains_key("background"));
    assert!(p.resolve_bool_value("missing", &ctx).await.is_err());
    assert!(
        p.resolve_int_value("theme", &ctx).await.is_err(),
        "type mismatch"
    );
}
