//! Outbox commit → consumer effect committed, for 1 000 events: service A writes each event in
//! its own transaction; the relay (woken by NOTIFY) publishes; service B's idempotent consumer
//! applies it and commits; the time from A's commit to B's commit is recorded per event.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use kit::events::{
    self, CancellationToken, ConsumerConfig, ConsumerSpec, Envelope, Handler, HandlerError,
    Producer, Relay, RelayConfig,
};
use testkit::TestDb;
use uuid::Uuid;

use crate::Stamps;

struct Apply;

#[async_trait::async_trait]
impl Handler for Apply {
    async fn handle(&self, tx: &mut kit::store::Tx, event: &Envelope) -> Result<(), HandlerError> {
        // A small effect in the consumer's transaction, as a real consumer would write.
        sqlx::query("SELECT set_config('bench.last', $1, true)")
            .bind(&event.event_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

pub async fn run() -> anyhow::Result<()> {
    let (a, b) = (TestDb::platform().await?, TestDb::platform().await?);
    let topic = testkit::topic("bench_outbox").await?;
    let kafka = testkit::kafka();
    let producer = Producer::new(&kafka)?;
    let stop = CancellationToken::new();
    tokio::spawn(
        Relay::new(a.app.clone(), producer.clone(), RelayConfig::default()).run(stop.clone()),
    );

    let committed: Stamps = Arc::new(Mutex::new(Default::default()));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(1000)));
    let mut spec = ConsumerSpec::new("bench.outbox", &[topic.as_str()], Apply);
    spec.group = testkit::unique("bench");
    let (c, l) = (committed.clone(), latencies.clone());
    spec.on_applied = Some(Arc::new(move |env: &Envelope| {
        let now = Instant::now();
        if let Some(t) = c.lock().expect("lock").get(&env.event_id) {
            l.lock().expect("lock").push(now.duration_since(*t));
        }
    }));
    tokio::spawn(events::run_consumer(
        b.app.clone(),
        producer.clone(),
        spec,
        ConsumerConfig::new(kafka),
        stop.clone(),
    ));

    let org = Uuid::new_v4();
    let write = |n: usize| {
        let (a, topic, committed) = (&a, &topic, committed.clone());
        async move {
            let env = Envelope {
                event_id: Uuid::now_v7().to_string(),
                event_type: "bench".into(),
                source: "bench".into(),
                occurred_at: String::new(),
                organization_id: org.to_string(),
                subject_id: n.to_string(),
                trace_parent: String::new(),
                data: serde_json::json!({"n": n}),
            };
            let mut tx = kit::store::tenant_tx(&a.app, org).await?;
            kit::store::outbox::write(&mut tx, topic, &env).await?;
            tx.commit().await?;
            committed
                .lock()
                .expect("lock")
                .insert(env.event_id, Instant::now());
            anyhow::Ok(())
        }
    };
    // Warm up: wait until the consumer has joined its group and applied an event.
    let deadline = Instant::now() + Duration::from_secs(60);
    write(0).await?;
    while latencies.lock().expect("lock").is_empty() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "consumer never applied the warm-up event"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.lock().expect("lock").clear();

    let started = Instant::now();
    for n in 1..=1000 {
        write(n).await?;
        // ~250 events/s: latency of a steady stream, not of a backlog.
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while latencies.lock().expect("lock").len() < 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut l = latencies.lock().expect("lock").clone();
    stop.cancel();
    l.sort();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    println!("\n## outbox commit -> consumer effect committed (1 000 events, ~250/s)");
    println!(
        "events applied              {:>8} in {:.1} s",
        l.len(),
        started.elapsed().as_secs_f64()
    );
    println!("p50                         {:>8.2} ms", pct(0.50));
    println!("p99                         {:>8.2} ms", pct(0.99));
    println!(
        "max                         {:>8.2} ms",
        l.last()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    );
    Ok(())
}
