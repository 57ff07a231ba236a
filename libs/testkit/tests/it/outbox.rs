//! The outbox assertions read what a service committed to its outbox.
use kit::sqlx;
use serde_json::json;
use testkit::TestDb;
use uuid::Uuid;

async fn event(db: &TestDb, event_type: &str, subject: &str) -> anyhow::Result<()> {
    let id = Uuid::new_v4();
    let env = json!({"event_id": id.to_string(), "event_type": event_type, "source": "test",
                     "occurred_at": "2026-01-01T00:00:00Z", "organization_id": Uuid::nil().to_string(),
                     "subject_id": subject, "trace_parent": "", "data": {"n": 1}});
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, msg_key, event_type, payload) VALUES ($1, 't', 'k', $2, $3)",
    )
    .bind(id)
    .bind(event_type)
    .bind(env)
    .execute(&db.owner)
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_outbox_is_read_by_type_and_subject() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    event(&db, "thing_created", "a").await?;
    event(&db, "thing_created", "b").await?;
    event(&db, "thing_deleted", "a").await?;
    assert_eq!(
        testkit::outbox_types(&db).await?,
        ["thing_created", "thing_created", "thing_deleted"]
    );
    let created = testkit::assert_outbox(&db, "thing_created").await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].subject_id, "a");
    assert_eq!(created[0].data["n"], 1);
    testkit::assert_outbox_count(&db, "thing_deleted", 1).await;
    let once = testkit::assert_outbox_once(&db, "thing_created", "b").await;
    assert_eq!(once.event_type, "thing_created");
    Ok(())
}

#[tokio::test]
#[should_panic(expected = "the outbox holds no thing_moved; it holds [\"thing_created\"]")]
async fn a_missing_event_is_named_with_what_the_outbox_holds() {
    let db = TestDb::platform().await.expect("test database");
    event(&db, "thing_created", "a").await.expect("event");
    testkit::assert_outbox(&db, "thing_moved").await;
}

#[tokio::test]
#[should_panic(expected = "the outbox holds 2 thing_created for subject a, not one")]
async fn exactly_one_means_one() {
    let db = TestDb::platform().await.expect("test database");
    event(&db, "thing_created", "a").await.expect("event");
    event(&db, "thing_created", "a").await.expect("event");
    testkit::assert_outbox_once(&db, "thing_created", "a").await;
}
