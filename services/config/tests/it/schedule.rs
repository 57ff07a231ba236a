use std::time::Duration;

use serde_json::{Value, json};
use testkit::Svc;

use crate::support::{THEME, platform_admin, service, service_with, tenant};

const SCHEDULES: &str = "/api/v1/configs/demo.themes/default/schedules";

/// RFC 3339 text `secs` from now (negative: in the past).
fn at(secs: i64) -> String {
    let now = kit::Timestamp::now().0;
    let d = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 { now + d } else { now - d };
    kit::Timestamp(t).rfc3339()
}

fn fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn of_type(p: &Value, slug: &str) -> bool {
    p["type"]
        .as_str()
        .unwrap_or_default()
        .ends_with(&format!("/{slug}"))
}

/// Polls the schedule until it is no longer pending (at most 15 s).
async fn settled(t: &Svc, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let s = t
            .get(&format!("{SCHEDULES}/{id}"))
            .bearer(token)
            .expect(200)
            .await;
        if s["status"] != "pending" {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "still pending: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn audit_actions(t: &Svc, id: &str) -> Vec<String> {
    let mut tx = t.system_tx().await.expect("tx");
    sqlx::query_scalar("SELECT action FROM config_audit WHERE subject LIKE $1 ORDER BY at, id")
        .bind(format!("% schedule {id}"))
        .fetch_all(&mut *tx)
        .await
        .expect("the audit trail")
}

#[tokio::test]
async fn a_scheduled_change_is_applied_when_due_as_a_new_version_with_its_event() {
    let t = service().await;
    let a = tenant(&t);
    let s = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(
            json!({"apply_at": at(2), "change": {"value": {"colors": {"primary": "#00AA00"}},
                     "message": "spring colours"}}),
        )
        .expect(201)
        .await;
    assert_eq!(s["status"], "pending");
    assert_eq!(s["layer"], "tenant");
    assert_eq!(s["organization_id"], a.org.to_string());
    assert!(s["created_by"].is_string(), "{s}");
    let id = s["schedule_id"].as_str().expect("id").to_string();
    let done = settled(&t, &a.admin, &id).await;
    assert_eq!(done["status"], "applied", "{done}");
    let doc = t.get(THEME).bearer(&a.admin).expect(200).await;
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["version_id"], done["version_id"]);
    assert_eq!(doc["value"]["colors"]["primary"], "#00AA00");
    let versions = t
        .get(&format!("{THEME}/versions"))
        .bearer(&a.admin)
        .expect(200)
        .await;
    assert_eq!(
        versions[0]["message"],
        format!("scheduled change {id}: spring colours")
    );
    let event = t
        .assert_outbox_once("config_changed", done["version_id"].as_str().expect("id"))
        .await;
    assert_eq!(event.organization_id, a.org.to_string());
    let eff = t
        .get(&format!("{THEME}/effective"))
        .bearer(&a.admin)
        .expect(200)
        .await;
    assert_eq!(eff["sources"]["/colors/primary"]["layer"], "tenant");
    let listed = t.get(SCHEDULES).bearer(&a.admin).expect(200).await;
    assert_eq!(listed[0]["schedule_id"], id.as_str());
    assert_eq!(listed[0]["status"], "applied");
    assert_eq!(audit_actions(&t, &id).await, ["config_scheduled"]);
    let mut tx = t.system_tx().await.expect("tx");
    let written: Vec<(String, Option<i32>, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT action, version, actor_id FROM config_audit \
         WHERE organization_id = $1 AND subject = 'demo.themes/default@tenant'",
    )
    .bind(a.org)
    .fetch_all(&mut *tx)
    .await
    .expect("the audit trail");
    let by: uuid::Uuid = s["created_by"].as_str().expect("by").parse().expect("uuid");
    assert_eq!(
        written,
        [("config_written".to_string(), Some(1), Some(by))],
        "audited as a direct write, by the scheduler"
    );
}

#[tokio::test]
async fn a_cancelled_schedule_never_applies_and_cannot_be_cancelled_twice() {
    let t = service().await;
    let a = tenant(&t);
    let first = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(2), "change": {"value": {"name": "Cancelled"}}}))
        .expect(201)
        .await;
    let first = first["schedule_id"].as_str().expect("id").to_string();
    let path = format!("{SCHEDULES}/{first}");
    t.delete(&path).bearer(&a.member).expect_problem(403).await;
    let cancelled = t.delete(&path).bearer(&a.admin).expect(200).await;
    assert_eq!(cancelled["status"], "cancelled");
    // A later one is applied: the job has run past the cancelled one's time.
    let later = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(3), "change": {"value": {"name": "Kept"}}}))
        .expect(201)
        .await;
    let later = settled(&t, &a.admin, later["schedule_id"].as_str().expect("id")).await;
    assert_eq!(later["status"], "applied", "{later}");
    let doc = t.get(THEME).bearer(&a.admin).expect(200).await;
    assert_eq!(
        (doc["version"].clone(), doc["value"].clone()),
        (json!(1), json!({"name": "Kept"}))
    );
    let still = t.get(&path).bearer(&a.admin).expect(200).await;
    assert_eq!(still["status"], "cancelled");
    assert!(still["version_id"].is_null());
    let p = t.delete(&path).bearer(&a.admin).expect_problem(409).await;
    assert!(of_type(&p, "config-schedule-settled"), "{p}");
    assert_eq!(
        audit_actions(&t, &first).await,
        ["config_scheduled", "config_schedule_cancelled"]
    );
}

#[tokio::test]
async fn a_schedule_whose_value_no_longer_fits_the_schema_fails_without_writing() {
    let t = service().await;
    let a = tenant(&t);
    let admin = platform_admin(&t);
    let s = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(3), "change": {"value": {"border_radius_px": 20}}}))
        .expect(201)
        .await;
    let id = s["schedule_id"].as_str().expect("id").to_string();
    // Meanwhile the schema tightens: the default (8) still fits, the scheduled 20 no longer.
    let mut schema = t
        .get("/api/v1/schemas/demo.themes")
        .bearer(&admin)
        .expect(200)
        .await["schema"]
        .clone();
    schema["properties"]["border_radius_px"]["maximum"] = json!(12);
    t.put("/api/v1/schemas/demo.themes")
        .bearer(&admin)
        .json(json!({ "schema": schema }))
        .expect(200)
        .await;
    let changed_before = t
        .outbox_types()
        .await
        .expect("outbox")
        .iter()
        .filter(|e| *e == "config_changed")
        .count();
    let done = settled(&t, &a.admin, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let reason = done["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("/border_radius_px") && reason.contains("maximum"),
        "{reason}"
    );
    assert!(done["version_id"].is_null());
    t.get(THEME).bearer(&a.admin).expect_problem(404).await;
    let changed_after = t
        .outbox_types()
        .await
        .expect("outbox")
        .iter()
        .filter(|e| *e == "config_changed")
        .count();
    assert_eq!(changed_after, changed_before, "nothing is written");
    assert_eq!(
        audit_actions(&t, &id).await,
        ["config_scheduled", "config_schedule_failed"]
    );
}

#[tokio::test]
async fn another_tenants_schedules_are_not_found() {
    let t = service().await;
    let (a, b) = (tenant(&t), tenant(&t));
    let secret = format!("b-secret-{}", uuid::Uuid::new_v4().simple());
    let theirs = t
        .post(SCHEDULES)
        .bearer(&b.admin)
        .json(json!({"apply_at": at(600), "change": {"value": {"name": secret}}}))
        .expect(201)
        .await;
    let id = theirs["schedule_id"].as_str().expect("id").to_string();
    let path = format!("{SCHEDULES}/{id}");
    let b_org = b.org.to_string();
    let p = t.get(&path).bearer(&a.admin).expect_problem(404).await;
    assert!(!p.to_string().contains(&secret));
    t.delete(&path).bearer(&a.admin).expect_problem(404).await;
    t.get(SCHEDULES)
        .bearer(&a.admin)
        .query("organization_id", &b_org)
        .expect_problem(404)
        .await;
    t.post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(600), "change": {"organization_id": b_org, "value": {"name": "mine"}}}))
        .expect_problem(404)
        .await;
    let mine = t.get(SCHEDULES).bearer(&a.admin).expect(200).await;
    assert_eq!(mine, json!([]), "A's own layer has none");
    let still = t.get(&path).bearer(&b.admin).expect(200).await;
    assert_eq!(still["status"], "pending");
    // A platform admin reaches it by naming the organisation.
    let admin = platform_admin(&t);
    let seen = t
        .get(SCHEDULES)
        .bearer(&admin)
        .query("layer", "tenant")
        .query("organization_id", &b_org)
        .query("status", "pending")
        .expect(200)
        .await;
    assert_eq!(seen[0]["schedule_id"], id.as_str());
}

#[tokio::test]
async fn bad_schedules_are_refused_naming_the_field_and_nothing_is_stored() {
    let t = service().await;
    let a = tenant(&t);
    let change = json!({"value": {"name": "x"}});
    for (body, field) in [
        (json!({"apply_at": at(-60), "change": change}), "apply_at"),
        (
            json!({"apply_at": at(400 * 86_400), "change": change}),
            "apply_at",
        ),
        (
            json!({"apply_at": "tomorrow", "change": change}),
            "apply_at",
        ),
        (json!({"change": change}), "apply_at"),
        (json!({"apply_at": at(60)}), "change"),
        (json!({"apply_at": at(60), "change": {}}), "change.value"),
        (
            json!({"apply_at": at(60), "change": {"value": 1, "yaml": "a: 1"}}),
            "change.value",
        ),
        (
            json!({"apply_at": at(60), "change": {"layer": "tier", "value": {}}}),
            "change.scope",
        ),
        (
            json!({"apply_at": at(60), "change": change, "when": "now"}),
            "when",
        ),
        (
            json!({"apply_at": at(60), "change": {"value": {}, "when": "now"}}),
            "change.when",
        ),
        (
            json!({"apply_at": at(60), "change": {"value": {}, "message": "m".repeat(501)}}),
            "change.message",
        ),
        (
            json!({"apply_at": at(60), "change": change, "expected_version": -1}),
            "expected_version",
        ),
        (
            json!({"apply_at": at(60), "change": change, "expected_version": "one"}),
            "expected_version",
        ),
    ] {
        let p = t
            .post(SCHEDULES)
            .bearer(&a.admin)
            .json(&body)
            .expect_problem(422)
            .await;
        assert!(fields(&p).iter().any(|f| f == field), "{body} → {p}");
    }
    let p = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(60), "change": {"value": {"colors": {"primary": "red"}}}}))
        .expect_problem(422)
        .await;
    assert!(of_type(&p, "config-schema-violation"), "{p}");
    assert!(fields(&p).contains(&"/colors/primary".to_string()), "{p}");
    let p = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(60), "change": {"layer": "default", "value": {"name": "x"}}}))
        .expect_problem(403)
        .await;
    assert!(of_type(&p, "config-layer-forbidden"), "{p}");
    t.post(SCHEDULES)
        .bearer(&a.member)
        .json(json!({"apply_at": at(60), "change": change}))
        .expect_problem(403)
        .await;
    let p = t
        .get(&format!("{SCHEDULES}/not-a-uuid"))
        .bearer(&a.admin)
        .expect_problem(422)
        .await;
    assert!(fields(&p).contains(&"schedule_id".to_string()), "{p}");
    let (status, p) = t
        .get(SCHEDULES)
        .bearer(&a.admin)
        .query("status", "someday")
        .send()
        .await
        .expect("an answer")
        .parts();
    assert!(status.is_client_error(), "{status}: {p}");
    assert!(p.to_string().contains("status"), "{p}");
    let none = t.get(SCHEDULES).bearer(&a.admin).expect(200).await;
    assert_eq!(none, json!([]), "nothing is stored");
}

#[tokio::test]
async fn a_schedule_whose_layer_was_written_meanwhile_is_refused_as_a_conflict() {
    let t = service().await;
    let a = tenant(&t);
    let s = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(3), "change": {"value": {"name": "Scheduled"}}}))
        .expect(201)
        .await;
    assert_eq!(s["base_version"], 0, "the layer has no version yet");
    let id = s["schedule_id"].as_str().expect("id").to_string();
    let direct = t
        .put(THEME)
        .bearer(&a.admin)
        .json(json!({"value": {"name": "Direct"}}))
        .expect(200)
        .await;
    assert_eq!(direct["version"], 1);
    let done = settled(&t, &a.admin, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let reason = done["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("conflict")
            && reason.contains("version 1")
            && reason.contains("version 0"),
        "{reason}"
    );
    assert!(done["version_id"].is_null());
    let doc = t.get(THEME).bearer(&a.admin).expect(200).await;
    assert_eq!(
        (doc["version"].clone(), doc["value"].clone()),
        (json!(1), json!({"name": "Direct"})),
        "the direct write stands"
    );
    assert_eq!(
        audit_actions(&t, &id).await,
        ["config_scheduled", "config_schedule_failed"]
    );
    // Scheduling over a version the layer has moved past is refused at once.
    let p = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(60), "expected_version": 0, "change": {"value": {"name": "Stale"}}}))
        .expect_problem(409)
        .await;
    assert!(of_type(&p, "config-version-conflict"), "{p}");
    let pending = t
        .get(SCHEDULES)
        .bearer(&a.admin)
        .query("status", "pending")
        .expect(200)
        .await;
    assert_eq!(pending, json!([]), "nothing is stored");
}

#[tokio::test]
async fn a_schedule_over_a_version_still_to_come_chains_on_the_one_before() {
    let t = service().await;
    let a = tenant(&t);
    let first = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(2), "change": {"value": {"name": "First"}}}))
        .expect(201)
        .await;
    let second = t
        .post(SCHEDULES)
        .bearer(&a.admin)
        .json(json!({"apply_at": at(3), "expected_version": 1, "change": {"value": {"name": "Second"}}}))
        .expect(201)
        .await;
    assert_eq!(second["base_version"], 1);
    for s in [&first, &second] {
        let done = settled(&t, &a.admin, s["schedule_id"].as_str().expect("id")).await;
        assert_eq!(done["status"], "applied", "{done}");
    }
    let doc = t.get(THEME).bearer(&a.admin).expect(200).await;
    assert_eq!(
        (doc["version"].clone(), doc["value"].clone()),
        (json!(2), json!({"name": "Second"}))
    );
}

#[tokio::test]
async fn two_replicas_apply_each_due_schedule_exactly_once() {
    let t = service_with(&[("CONFIG_SCHEDULES_EVERY_SECS", "1")]).await;
    // A second replica of the service on the same database, running the same job, with a pool
    // of its own as another process has.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with((*t.db().app.connect_options()).clone())
        .await
        .expect("a pool of the replica's own");
    let replica = kit::runtime::start(
        &t.shared,
        vec![kit::runtime::Launch {
            def: &config::SERVICE,
            http: "127.0.0.1:0".parse().expect("address"),
            grpc: "127.0.0.1:0".parse().expect("address"),
            db: pool,
        }],
    )
    .await
    .expect("a second replica starts");
    let tenants: Vec<_> = (0..12).map(|_| tenant(&t)).collect();
    let due = at(3);
    let mut ids = Vec::new();
    for (i, a) in tenants.iter().enumerate() {
        let s = t
            .post(SCHEDULES)
            .bearer(&a.admin)
            .json(json!({"apply_at": due, "change": {"value": {"name": format!("Tenant {i}")}}}))
            .expect(201)
            .await;
        ids.push(s["schedule_id"].as_str().expect("id").to_string());
    }
    for (a, id) in tenants.iter().zip(&ids) {
        let done = settled(&t, &a.admin, id).await;
        assert_eq!(done["status"], "applied", "{done}");
        let doc = t.get(THEME).bearer(&a.admin).expect(200).await;
        assert_eq!(doc["version"], 1, "written once: {doc}");
        t.assert_outbox_once("config_changed", done["version_id"].as_str().expect("id"))
            .await;
    }
    replica.stop().await;
}
