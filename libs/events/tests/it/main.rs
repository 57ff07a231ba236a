//! The event path end to end against real PostgreSQL and Kafka: service A changes state and
//! writes an event in one transaction; the relay publishes; service B's consumer applies it
//! exactly once — under redelivery and a relay crash between publish and mark — and a message
//! that always fails ends in the dead-letter topic while the consumer moves on.
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use kit::events::{
    self, ConsumerConfig, ConsumerSpec, Envelope, Handler, HandlerError, Producer, Relay,
    RelayConfig,
};
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    message::Headers,
};
use testkit::TestDb;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Service A: a widget table (tenant data) whose changes publish `widget_created`.
async fn service_a() -> anyhow::Result<TestDb> {
    let db = TestDb::platform().await?;
    sqlx::raw_sql(
        "CREATE TABLE widgets (id UUID PRIMARY KEY, organization_id UUID NOT NULL, name TEXT NOT NULL);
         ALTER TABLE widgets ENABLE ROW LEVEL SECURITY; ALTER TABLE widgets FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant ON widgets USING (app_row_visible(organization_id)) WITH CHECK (app_row_visible(organization_id));
         GRANT SELECT, INSERT, UPDATE, DELETE ON widgets TO fleet_app;",
    )
    .execute(&db.owner)
    .await?;
    Ok(db)
}

/// Service B: counts widgets per tenant from A's events.
async fn service_b() -> anyhow::Result<TestDb> {
    let db = TestDb::platform().await?;
    sqlx::raw_sql(
        "CREATE TABLE widget_counts (organization_id UUID PRIMARY KEY, n INT NOT NULL);
         ALTER TABLE widget_counts ENABLE ROW LEVEL SECURITY; ALTER TABLE widget_counts FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant ON widget_counts USING (app_row_visible(organization_id)) WITH CHECK (app_row_visible(organization_id));
         GRANT SELECT, INSERT, UPDATE, DELETE ON widget_counts TO fleet_app;",
    )
    .execute(&db.owner)
    .await?;
    Ok(db)
}

fn envelope(org: Uuid, event_type: &str, trace_parent: &str) -> Envelope {
    Envelope {
        event_id: Uuid::now_v7().to_string(),
        event_type: event_type.into(),
        source: "service-a".into(),
        occurred_at: "2026-11-22T00:00:00Z".into(),
        organization_id: org.to_string(),
        subject_id: String::new(),
        trace_parent: trace_parent.into(),
        data: serde_json::json!({"name": "w"}),
    }
}

/// A's state change and its event, in one transaction.
async fn create_widget(
    a: &TestDb,
    topic: &str,
    org: Uuid,
    event_type: &str,
) -> anyhow::Result<Envelope> {
    let env = envelope(
        org,
        event_type,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let mut tx = kit::store::tenant_tx(&a.app, org).await?;
    sqlx::query("INSERT INTO widgets (id, organization_id, name) VALUES ($1, $2, 'w')")
        .bind(Uuid::new_v4())
        .bind(org)
        .execute(&mut *tx)
        .await?;
    kit::store::outbox::write(&mut tx, topic, &env).await?;
    tx.commit().await?;
    Ok(env)
}

/// B's handler: increments the tenant's count; `poison` events always fail.
struct CountWidgets {
    calls: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Handler for CountWidgets {
    async fn handle(&self, tx: &mut kit::store::Tx, event: &Envelope) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if event.event_type == "poison" {
            return Err(HandlerError::failed("this event can never be applied"));
        }
        let org: Uuid = event
            .organization_id
            .parse()
            .map_err(HandlerError::failed)?;
        sqlx::query(
            "INSERT INTO widget_counts (organization_id, n) VALUES ($1, 1)
             ON CONFLICT (organization_id) DO UPDATE SET n = widget_counts.n + 1",
        )
        .bind(org)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

async fn count(b: &TestDb, org: Uuid) -> anyhow::Result<i32> {
    let mut tx = kit::store::tenant_tx(&b.app, org).await?;
    Ok(sqlx::query_scalar("SELECT n FROM widget_counts")
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0))
}

async fn eventually<F, Fut>(what: &str, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while tokio::time::Instant::now() < deadline {
        if f().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
}

/// Reads every message of `topic` partition 0 from the beginning (no group: no join delay).
/// A message's payload and headers.
type Read = (Vec<u8>, HashMap<String, String>);

fn read_all(topic: &str, expect: usize) -> anyhow::Result<Vec<Read>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &testkit::kafka().bootstrap)
        .set("group.id", testkit::unique("reader"))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    c.assign(&tpl)?;
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while out.len() < expect && std::time::Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m?;
            let mut headers = HashMap::new();
            if let Some(h) = m.headers() {
                for x in h.iter() {
                    headers.insert(
                        x.key.to_string(),
                        String::from_utf8_lossy(x.value.unwrap_or_default()).to_string(),
                    );
                }
            }
            out.push((m.payload().unwrap_or_default().to_vec(), headers));
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_to_consumer_exactly_once_with_redelivery_crash_and_dlq() -> anyhow::Result<()> {
    testkit::init_tracing();
    let (a, b) = (service_a().await?, service_b().await?);
    let topic = testkit::topic("widgets").await?;
    let kafka = testkit::kafka();
    let producer = Producer::new(&kafka)?;
    let relay = Relay::new(a.app.clone(), producer.clone(), RelayConfig::default());
    let org = Uuid::new_v4();

    // B's consumer.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut spec = ConsumerSpec::new(
        "service-b.widgets",
        &[topic.as_str()],
        CountWidgets {
            calls: calls.clone(),
        },
    );
    spec.group = testkit::unique("service-b");
    let mut cfg = ConsumerConfig::new(kafka.clone());
    cfg.max_attempts = 3;
    cfg.backoff = Duration::from_millis(10);
    let metrics = cfg.metrics.clone();
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(events::run_consumer(
        b.app.clone(),
        producer.clone(),
        spec,
        cfg,
        stop.clone(),
    ));

    // 1. State change + event in one transaction; the relay publishes; B applies it once.
    let first = create_widget(&a, &topic, org, "widget_created").await?;
    assert_eq!(relay.run_once().await?, 1);
    eventually("first event applied", || async {
        Ok(count(&b, org).await? == 1)
    })
    .await?;
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&a.app)
        .await?;
    assert_eq!(unsent, 0, "the relay marked the row sent");

    // 2. The same message delivered again (a producer retry, a rebalance): no second effect.
    producer
        .send(
            &topic,
            &first.organization_id,
            &serde_json::to_vec(&first)?,
            &[],
        )
        .await?;

    // 3. The relay publishes and is killed before marking: the row stays unsent and is
    //    published again by the next relay run; B still applies it once.
    let second = create_widget(&a, &topic, org, "widget_created").await?;
    let batch = relay.claim().await?;
    assert_eq!(batch.len(), 1);
    let published = relay.publish(&batch).await;
    assert!(published.iter().all(|(_, r)| r.is_ok()));
    drop(batch); // crash: the transaction that would mark the row never commits
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&a.app)
        .await?;
    assert_eq!(
        unsent, 1,
        "a crash before marking leaves the row to be sent again"
    );
    assert_eq!(
        relay.run_once().await?,
        1,
        "the restarted relay republishes it"
    );

    eventually("second event applied", || async {
        Ok(count(&b, org).await? == 2)
    })
    .await?;

    // 4. A message that always fails: retried 3 times, dead-lettered with its error, and the
    //    consumer moves on to the next message.
    let poison = create_widget(&a, &topic, org, "poison").await?;
    let after = create_widget(&a, &topic, org, "widget_created").await?;
    assert_eq!(relay.run_once().await?, 2);
    eventually("the event after the poison one applied", || async {
        Ok(count(&b, org).await? == 3)
    })
    .await?;

    // Both deliveries of `first` and both publications of `second` were seen, applied once each.
    let handled: Vec<(String, String)> =
        sqlx::query_as("SELECT event_id::text, outcome FROM handled_events ORDER BY handled_at")
            .fetch_all(&b.app)
            .await?;
    let outcome = |id: &str| {
        handled
            .iter()
            .find(|(e, _)| e == id)
            .map(|(_, o)| o.clone())
    };
    assert_eq!(outcome(&first.event_id).as_deref(), Some("applied"));
    assert_eq!(outcome(&second.event_id).as_deref(), Some("applied"));
    assert_eq!(outcome(&after.event_id).as_deref(), Some("applied"));
    assert_eq!(outcome(&poison.event_id).as_deref(), Some("dead_lettered"));
    assert_eq!(
        count(&b, org).await?,
        3,
        "4 widget messages on the topic, 3 distinct events"
    );

    let dlq = read_all(&events::dlq_topic(&topic), 1)?;
    assert_eq!(dlq.len(), 1, "exactly the poison message is dead-lettered");
    let (payload, headers) = &dlq[0];
    let dead: Envelope = serde_json::from_slice(payload)?;
    assert_eq!(dead.event_id, poison.event_id);
    assert_eq!(headers["x-error"], "this event can never be applied");
    assert_eq!(headers["x-attempts"], "3");
    assert_eq!(headers["x-original-topic"], topic);

    // The trace context travelled in the Kafka headers.
    let main = read_all(&topic, 6)?;
    assert!(main.len() >= 5);
    assert!(
        main.iter()
            .filter(|(_, h)| h.contains_key("traceparent"))
            .all(|(_, h)| h["traceparent"].starts_with("00-0af7651916cd43dd8448eb211c80319c-")),
    );
    assert!(
        main.iter()
            .filter(|(_, h)| h.contains_key("traceparent"))
            .count()
            >= 4
    );

    // The consumer's metrics tell the same story.
    let seen = |outcome: &str| {
        metrics
            .messages
            .get_or_create(&kit::events::metrics::ConsumerLabels {
                consumer: "service-b.widgets".into(),
                outcome: outcome.into(),
            })
            .get()
    };
    assert_eq!(seen("applied"), 3);
    assert_eq!(seen("duplicate"), 2);
    assert_eq!(seen("dead_lettered"), 1);
    assert_eq!(seen("retried"), 3);

    stop.cancel();
    consumer.await??;
    Ok(())
}

#[tokio::test]
async fn a_malformed_message_goes_straight_to_the_dlq() -> anyhow::Result<()> {
    let b = service_b().await?;
    let topic = testkit::topic("garbage").await?;
    let kafka = testkit::kafka();
    let producer = Producer::new(&kafka)?;
    producer.send(&topic, "k", b"{not json", &[]).await?;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut spec = ConsumerSpec::new(
        "service-b.garbage",
        &[topic.as_str()],
        CountWidgets {
            calls: calls.clone(),
        },
    );
    spec.group = testkit::unique("g");
    let stop = CancellationToken::new();
    let task = tokio::spawn(events::run_consumer(
        b.app.clone(),
        producer,
        spec,
        ConsumerConfig::new(kafka),
        stop.clone(),
    ));
    let dlq =
        tokio::task::spawn_blocking(move || read_all(&events::dlq_topic(&topic), 1)).await??;
    assert_eq!(dlq.len(), 1);
    assert!(dlq[0].1["x-error"].starts_with("not an event envelope"));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler never saw it");
    stop.cancel();
    task.await??;
    Ok(())
}

#[tokio::test]
async fn the_relay_wakes_on_commit_without_polling() -> anyhow::Result<()> {
    let a = service_a().await?;
    let topic = testkit::topic("wake").await?;
    let producer = Producer::new(&testkit::kafka())?;
    let relay = Relay::new(
        a.app.clone(),
        producer,
        RelayConfig {
            poll_interval: Duration::from_secs(3600),
            ..Default::default()
        },
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await; // listener up
    let org = Uuid::new_v4();
    create_widget(&a, &topic, org, "widget_created").await?;
    eventually("relay sent the row", || async {
        let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(&a.app)
            .await?;
        Ok(unsent == 0)
    })
    .await?;
    stop.cancel();
    task.await?;
    Ok(())
}
