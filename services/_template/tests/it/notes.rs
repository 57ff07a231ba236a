use serde_json::json;

use crate::support::{service, tenant};

#[tokio::test]
async fn a_created_note_is_read_back_with_its_event_and_audit_entry() {
    let t = service().await;
    let a = tenant(&t);
    let note = t
        .post("/api/v1/notes")
        .bearer(&a.token)
        .json(json!({"title": "  Kick-off  ", "body": "Agenda"}))
        .expect(201)
        .await;
    assert_eq!(note["title"], "Kick-off", "titles are trimmed");
    assert_eq!(note["status"], "open");
    let id = note["note_id"].as_str().expect("id").to_string();
    let read = t
        .get(&format!("/api/v1/notes/{id}"))
        .bearer(&a.token)
        .expect(200)
        .await;
    assert_eq!(read, note);
    let created_at = read["created_at"].as_str().expect("a time");
    assert!(
        kit::Timestamp::parse(created_at).is_some(),
        "times are RFC 3339: {created_at}"
    );
    let event = t.assert_outbox_once("note_created", &id).await;
    assert_eq!(event.source, "service-template");
    assert_eq!(event.organization_id, a.org.to_string());
    assert!(
        event.data.get("timestamp").is_none(),
        "the envelope has the time"
    );
    let audit: Vec<(String, Option<uuid::Uuid>, Option<String>)> = sqlx::query_as(
        "SELECT action, actor_id, ip_address FROM note_audit WHERE note_id = $1::uuid",
    )
    .bind(&id)
    .fetch_all(&mut *t.system_tx().await.expect("tx"))
    .await
    .expect("audit rows");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "note_created");
    assert_eq!(audit[0].1, Some(a.user));
    assert_eq!(audit[0].2.as_deref(), t.client_ip());
}

#[tokio::test]
async fn invalid_fields_are_refused_naming_the_field_and_nothing_is_written() {
    let t = service().await;
    let a = tenant(&t);
    for (body, field, message) in [
        (json!({"title": ""}), "title", "at least 1"),
        (json!({"title": "x".repeat(201)}), "title", "at most 200"),
        (
            json!({"title": "ok", "body": "a\u{0}b"}),
            "body",
            "control characters",
        ),
        (
            json!({"title": "ok", "colour": "red"}),
            "colour",
            "unknown field",
        ),
    ] {
        let p = t
            .post("/api/v1/notes")
            .bearer(&a.token)
            .json(&body)
            .expect_problem(422)
            .await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
        assert!(
            p["detail"].as_str().unwrap_or_default().contains(message),
            "{p}"
        );
    }
    assert!(t.outbox_types().await.expect("outbox").is_empty());
}

#[tokio::test]
async fn a_second_note_with_the_same_title_is_a_typed_conflict() {
    let t = service().await;
    let a = tenant(&t);
    let body = json!({"title": "Pricing"});
    t.post("/api/v1/notes")
        .bearer(&a.token)
        .json(&body)
        .expect(201)
        .await;
    let p = t
        .post("/api/v1/notes")
        .bearer(&a.token)
        .json(&body)
        .expect_problem(409)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/problems/note-title-taken"),
        "{p}"
    );
}

#[tokio::test]
async fn notes_are_listed_newest_first_by_page_and_status() {
    let t = service().await;
    let a = tenant(&t);
    let mut ids = Vec::new();
    for i in 0..3 {
        let n = t
            .post("/api/v1/notes")
            .bearer(&a.token)
            .json(json!({"title": format!("n{i}")}))
            .expect(201)
            .await;
        ids.push(n["note_id"].clone());
    }
    t.patch(&format!("/api/v1/notes/{}", ids[0].as_str().expect("id")))
        .bearer(&a.token)
        .json(json!({"status": "done"}))
        .expect(200)
        .await;
    let page = t
        .get("/api/v1/notes")
        .bearer(&a.token)
        .query("limit", "2")
        .expect(200)
        .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["per_page"], 2);
    assert_eq!(page["notes"][0]["note_id"], ids[2]);
    assert_eq!(page["notes"].as_array().map(Vec::len), Some(2));
    let done = t
        .get("/api/v1/notes")
        .bearer(&a.token)
        .query("status", "done")
        .expect(200)
        .await;
    assert_eq!(done["total"], 1);
    let p = t
        .get("/api/v1/notes")
        .bearer(&a.token)
        .query("limit", "1000")
        .expect_problem(422)
        .await;
    assert_eq!(p["errors"][0]["field"], "limit");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1 to 100"),
        "{p}"
    );
    let p = t
        .get("/api/v1/notes")
        .bearer(&a.token)
        .query("status", "lost")
        .expect_problem(422)
        .await;
    assert_eq!(p["errors"][0]["field"], "status");
}

#[tokio::test]
async fn a_note_moves_between_open_and_done_but_not_to_archived() {
    let t = service().await;
    let a = tenant(&t);
    let n = t
        .post("/api/v1/notes")
        .bearer(&a.token)
        .json(json!({"title": "Follow-up"}))
        .expect(201)
        .await;
    let path = format!("/api/v1/notes/{}", n["note_id"].as_str().expect("id"));
    let done = t
        .patch(&path)
        .bearer(&a.token)
        .json(json!({"status": "done"}))
        .expect(200)
        .await;
    assert_eq!(done["status"], "done");
    let p = t
        .patch(&path)
        .bearer(&a.token)
        .json(json!({"status": "archived"}))
        .expect_problem(422)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/note-status-transition"),
        "{p}"
    );
}
