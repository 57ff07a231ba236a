use std::time::Duration;

use serde_json::json;

use crate::support::{service_with, tenant};

#[tokio::test]
async fn done_notes_are_archived_by_the_periodic_job_and_its_runs_are_counted() {
    let t = service_with(&[
        ("SERVICE_TEMPLATE_ARCHIVE_EVERY_SECS", "1"),
        ("SERVICE_TEMPLATE_ARCHIVE_AFTER_SECS", "1"),
    ])
    .await;
    let a = tenant(&t);
    let n = t
        .post("/api/v1/notes")
        .bearer(&a.token)
        .json(json!({"title": "Old news"}))
        .expect(201)
        .await;
    let path = format!("/api/v1/notes/{}", n["note_id"].as_str().expect("id"));
    t.patch(&path)
        .bearer(&a.token)
        .json(json!({"status": "done"}))
        .expect(200)
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let note = t.get(&path).bearer(&a.token).expect(200).await;
        if note["status"] == "archived" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not archived: {note}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let p = t
        .patch(&path)
        .bearer(&a.token)
        .json(json!({"title": "changed"}))
        .expect_problem(409)
        .await;
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/note-archived"),
        "{p}"
    );
    // Metrics are served on their own port, not the API's.
    let s = t.spawned();
    let res = s
        .http
        .get(&s.metrics)
        .send()
        .await
        .expect("the metrics port answers");
    let text = res.text().await.expect("the metrics text");
    assert!(text.contains("job_runs_total{"), "{text}");
    assert!(text.contains("archive-done-notes"), "{text}");
}

#[tokio::test]
async fn a_malformed_setting_stops_start_up_naming_the_variable() {
    let err = match testkit::spawn_with(
        &service_template::SERVICE,
        &[("SERVICE_TEMPLATE_ARCHIVE_EVERY_SECS", "abc")],
    )
    .await
    {
        Ok(_) => panic!("started with a malformed setting"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("SERVICE_TEMPLATE_ARCHIVE_EVERY_SECS"), "{err}");
}
