use std::time::Duration;

use kit::contracts::events::topic;
use serde_json::json;
use uuid::Uuid;

use crate::support::service;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_organisation_gets_a_welcome_note_once_even_when_the_event_is_delivered_twice() {
    let t = service().await;
    let kafka = &t.shared.config.kafka;
    let producer = kit::events::Producer::new(kafka).expect("producer");
    let org = Uuid::new_v4();
    let event = json!({
        "event_id": Uuid::now_v7().to_string(), "event_type": "organization_created",
        "source": "org-auth", "occurred_at": kit::Timestamp::now().rfc3339(),
        "organization_id": org.to_string(), "subject_id": org.to_string(), "trace_parent": "",
        "data": {"organization_id": org.to_string(), "admin_user_id": Uuid::new_v4().to_string(),
                 "name": "Acme", "slug": "acme", "industry": "retail"}
    });
    for _ in 0..2 {
        producer
            .send(
                &kafka.topic(topic::ORG),
                &org.to_string(),
                event.to_string().as_bytes(),
                &[],
            )
            .await
            .expect("published");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&mut *t.system_tx().await.expect("tx"))
            .await
            .expect("count");
        if n == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no welcome note after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let handled: i64 = sqlx::query_scalar("SELECT count(*) FROM handled_events")
        .fetch_one(&mut *t.system_tx().await.expect("tx"))
        .await
        .expect("handled");
    assert_eq!(handled, 1, "the second delivery was recognised and skipped");
}
