use config_client::{
    ConfigClient, Context, DocumentLayer, FlagEntry, Layer, Reason, Snapshot, Target, Update,
};
use serde_json::json;

fn theme(layer: Layer, org: Option<&str>, version: i32, value: serde_json::Value) -> DocumentLayer {
    DocumentLayer {
        namespace: "demo.themes".into(),
        key: "default".into(),
        layer,
        scope: String::new(),
        organization_id: org.map(str::to_string),
        version,
        value,
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        revision: 7,
        schemas: [(
            "demo.themes".to_string(),
            json!({"type": "object", "properties": {"primary": {"type": "string"}}, "required": ["primary"]}),
        )]
        .into(),
        schema_revisions: [("demo.themes".to_string(), 1)].into(),
        documents: vec![theme(Layer::Default, None, 1, json!({"primary": "#000", "font": "Inter"}))],
        flags: vec![FlagEntry {
            key: "new-editor".into(),
            version: 1,
            definition: serde_json::from_value(json!({"kind": "boolean"})).expect("flag"),
        }],
    }
}

fn temp_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("config-lkg-{}.json", uuid::Uuid::new_v4()))
}

#[tokio::test]
async fn a_tenant_override_is_merged_and_a_watcher_is_told() {
    let c = ConfigClient::empty();
    c.replace(snapshot()).await.expect("accepted");
    let mut changes = c.changes();
    changes.borrow_and_update();
    c.apply(
        Update::Document {
            document: theme(Layer::Tenant, Some("org-a"), 2, json!({"primary": "#f00"})),
        },
        8,
    )
    .await
    .expect("accepted");
    assert!(changes.has_changed().expect("open"), "the watcher is woken");
    let target = Target {
        organization_id: Some("org-a".into()),
        ..Target::default()
    };
    let m = c
        .effective("demo.themes", "default", &target)
        .expect("a document");
    assert_eq!(m.value, json!({"primary": "#f00", "font": "Inter"}));
    assert_eq!(m.sources["/primary"].layer, Layer::Tenant);
    assert_eq!(m.sources["/font"].layer, Layer::Default);
    let other = c
        .effective("demo.themes", "default", &Target::default())
        .expect("defaults");
    assert_eq!(
        other.value["primary"], "#000",
        "another tenant sees the default"
    );
    assert_eq!(c.revision(), 8);
}

#[tokio::test]
async fn an_update_breaking_the_schema_is_refused_and_the_copy_kept() {
    let c = ConfigClient::empty();
    c.replace(snapshot()).await.expect("accepted");
    let refused = c
        .apply(
            Update::Document {
                document: theme(Layer::Tenant, Some("org-a"), 2, json!({"primary": 42})),
            },
            8,
        )
        .await;
    assert!(refused.is_err());
    assert_eq!(c.revision(), 7);
    let t = Target {
        organization_id: Some("org-a".into()),
        ..Target::default()
    };
    let m = c.effective("demo.themes", "default", &t).expect("doc");
    assert_eq!(m.value["primary"], "#000");
}

#[tokio::test]
async fn the_last_known_good_copy_survives_a_restart() {
    let path = temp_path();
    let c = ConfigClient::with_last_known_good(&path).expect("no file yet");
    assert_eq!(c.revision(), 0);
    c.replace(snapshot()).await.expect("accepted");
    drop(c);
    let again = ConfigClient::with_last_known_good(&path).expect("reads the file");
    assert_eq!(again.revision(), 7);
    let e = again.evaluate("new-editor", &Context::default());
    assert!(e.enabled);
    assert_eq!(e.reason, Reason::Static);
    std::fs::write(&path, b"{not json").expect("write");
    assert!(
        ConfigClient::with_last_known_good(&path).is_err(),
        "a corrupt file is reported"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn an_unknown_flag_is_off_with_reason_error() {
    let c = ConfigClient::empty();
    c.replace(snapshot()).await.expect("accepted");
    let e = c.evaluate("nope", &Context::default());
    assert_eq!((e.enabled, e.reason), (false, Reason::Error));
}

#[tokio::test]
async fn an_update_older_than_the_copy_is_ignored_and_the_revision_never_goes_back() {
    let c = ConfigClient::empty();
    c.replace(snapshot()).await.expect("accepted");
    let tenant = |version, primary: &str| Update::Document {
        document: theme(
            Layer::Tenant,
            Some("org-a"),
            version,
            json!({"primary": primary}),
        ),
    };
    assert!(c.apply(tenant(3, "#f00"), 9).await.expect("accepted"));
    let applied = c.apply(tenant(2, "#0f0"), 8).await.expect("not refused");
    assert!(!applied, "an older version is stale");
    assert!(!c.apply(tenant(3, "#00f"), 10).await.expect("not refused"));
    let t = Target {
        organization_id: Some("org-a".into()),
        ..Target::default()
    };
    let m = c.effective("demo.themes", "default", &t).expect("doc");
    assert_eq!(m.value["primary"], "#f00");
    // A newer version applied late (a lower revision than the copy's) keeps the revision.
    assert!(c.apply(tenant(4, "#0f0"), 5).await.expect("accepted"));
    assert_eq!(c.revision(), 9);
    // A snapshot taken before the change does not take it back.
    let mut older = snapshot();
    older.documents.push(theme(
        Layer::Tenant,
        Some("org-a"),
        1,
        json!({"primary": "#000"}),
    ));
    c.replace(older).await.expect("accepted");
    let m = c.effective("demo.themes", "default", &t).expect("doc");
    assert_eq!(m.value["primary"], "#0f0");
    assert_eq!(c.revision(), 9);
}
