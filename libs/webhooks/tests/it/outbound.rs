//! Outbound deliveries: enqueued in the caller's transaction in real PostgreSQL, signed, sent to
//! a local receiver that verifies the signature, retried with backoff, logged per organisation.
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use fetch::{AllowList, FetchConfig, FetchError, Fetcher};
use serde_json::json;
use store::Scope;
use testkit::TestDb;
use uuid::Uuid;
use webhooks::{
    Secret, WebhookError,
    outbound::{self, Backoff, Deliverer, DeliveryStatus, Signer},
};

const SECRET: &str = "whsec_local_receiver_shared_secret";

#[derive(Clone, Default)]
struct Receiver {
    /// Answer 500 to this many requests first.
    fail_first: usize,
    seen: Arc<AtomicUsize>,
    verified: Arc<Mutex<Vec<(String, String)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = r.seen.fetch_add(1, Ordering::SeqCst);
    let secret = Secret::new(SECRET.as_bytes().to_vec()).expect("secret");
    let Ok(v) = outbound::verify_signature(&secret, &headers, &body, Duration::from_secs(300))
    else {
        return StatusCode::UNAUTHORIZED;
    };
    if n < r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let event = headers
        .get("x-webhook-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    r.verified
        .lock()
        .expect("lock")
        .push((v.delivery_id.unwrap_or_default(), event));
    StatusCode::NO_CONTENT
}

async fn receiver(fail_first: usize) -> anyhow::Result<(Receiver, String, u16)> {
    let r = Receiver {
        fail_first,
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/hooks", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((r, format!("http://127.0.0.1:{port}/hooks"), port))
}

fn fetcher(allow: &str) -> anyhow::Result<Fetcher> {
    Ok(Fetcher::new(FetchConfig {
        allow: AllowList::parse(allow)?,
        total_timeout: Duration::from_secs(5),
        ..FetchConfig::default()
    })?)
}

fn deliverer(db: &TestDb, f: &Fetcher) -> anyhow::Result<Deliverer> {
    Ok(Deliverer::new(
        db.app.clone(),
        f.clone(),
        Signer::new(Secret::new(SECRET.as_bytes().to_vec())?),
    )
    .with_backoff(Backoff {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(200),
    }))
}

async fn enqueue(db: &TestDb, f: &Fetcher, org: Uuid, url: &str) -> Result<Uuid, WebhookError> {
    let mut tx = store::begin(&db.app, Scope::tenant(org)).await?;
    let id = outbound::enqueue(
        &mut tx,
        f,
        org,
        url,
        "nda.fully_signed",
        &json!({"nda_id": "n-1"}),
    )
    .await?;
    tx.commit().await.map_err(WebhookError::from)?;
    Ok(id)
}

/// Runs the worker until `id` leaves `pending` (or 10 s pass).
async fn settle(
    d: &Deliverer,
    db: &TestDb,
    org: Uuid,
    id: Uuid,
) -> anyhow::Result<outbound::Delivery> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        d.run_once().await?;
        let row = outbound::get(&db.app, Scope::tenant(org), id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("delivery {id} not visible to its organisation"))?;
        if row.status != DeliveryStatus::Pending {
            return Ok(row);
        }
        anyhow::ensure!(Instant::now() < deadline, "still pending: {row:?}");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

#[tokio::test]
async fn a_delivery_is_signed_and_the_receiver_verifies_it() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let (r, url, port) = receiver(0).await?;
    let f = fetcher(&format!("127.0.0.1:{port}"))?;
    let org = Uuid::new_v4();
    let id = enqueue(&db, &f, org, &url).await?;
    let row = settle(&deliverer(&db, &f)?, &db, org, id).await?;
    assert_eq!(row.status, DeliveryStatus::Delivered);
    assert_eq!((row.attempts, row.last_status_code), (1, Some(204)));
    assert!(row.delivered_at.is_some());
    let seen = r.verified.lock().expect("lock").clone();
    assert_eq!(seen, vec![(id.to_string(), "nda.fully_signed".to_string())]);
    Ok(())
}

#[tokio::test]
async fn a_delivery_is_retried_after_a_500_and_then_succeeds() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let (r, url, port) = receiver(1).await?;
    let f = fetcher(&format!("127.0.0.1:{port}"))?;
    let org = Uuid::new_v4();
    let id = enqueue(&db, &f, org, &url).await?;
    let row = settle(&deliverer(&db, &f)?, &db, org, id).await?;
    assert_eq!(row.status, DeliveryStatus::Delivered);
    assert_eq!(row.attempts, 2);
    assert_eq!(row.last_status_code, Some(204));
    assert_eq!(r.seen.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_stops_at_its_attempt_limit() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let (r, url, port) = receiver(usize::MAX).await?;
    let f = fetcher(&format!("127.0.0.1:{port}"))?;
    let org = Uuid::new_v4();
    let id = enqueue(&db, &f, org, &url).await?;
    let row = settle(&deliverer(&db, &f)?, &db, org, id).await?;
    assert_eq!(row.status, DeliveryStatus::Failed);
    assert_eq!(row.attempts, row.max_attempts);
    assert_eq!(row.last_status_code, Some(500));
    assert_eq!(row.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(r.seen.load(Ordering::SeqCst), row.max_attempts as usize);
    Ok(())
}

#[test]
fn the_backoff_doubles_up_to_its_cap() {
    let b = Backoff {
        base: Duration::from_secs(10),
        cap: Duration::from_secs(60),
    };
    let delays: Vec<u64> = (1..=5).map(|n| b.after(n).as_secs()).collect();
    assert_eq!(delays, vec![10, 20, 40, 60, 60]);
    assert_eq!(b.after(1_000).as_secs(), 60);
}

#[tokio::test]
async fn a_rolled_back_change_sends_nothing() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let (r, url, port) = receiver(0).await?;
    let f = fetcher(&format!("127.0.0.1:{port}"))?;
    let org = Uuid::new_v4();
    let mut tx = store::begin(&db.app, Scope::tenant(org)).await?;
    let id = outbound::enqueue(&mut tx, &f, org, &url, "nda.voided", &json!({})).await?;
    tx.rollback().await?;
    assert_eq!(deliverer(&db, &f)?.run_once().await?, 0);
    assert!(
        outbound::get(&db.app, Scope::tenant(org), id)
            .await?
            .is_none()
    );
    assert_eq!(r.seen.load(Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn the_delivery_log_is_visible_only_to_its_organisation() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let (_r, url, port) = receiver(0).await?;
    let f = fetcher(&format!("127.0.0.1:{port}"))?;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let id = enqueue(&db, &f, a, &url).await?;
    settle(&deliverer(&db, &f)?, &db, a, id).await?;
    let log_a = outbound::log(&db.app, Scope::tenant(a), a, None, 50).await?;
    assert_eq!(
        log_a.iter().map(|d| d.delivery_id).collect::<Vec<_>>(),
        vec![id]
    );
    let delivered = outbound::log(
        &db.app,
        Scope::tenant(a),
        a,
        Some(DeliveryStatus::Delivered),
        50,
    )
    .await?;
    assert_eq!(delivered.len(), 1);
    assert!(
        outbound::log(
            &db.app,
            Scope::tenant(a),
            a,
            Some(DeliveryStatus::Failed),
            50
        )
        .await?
        .is_empty()
    );
    // Tenant B, even asking for A's organisation or A's delivery id, sees nothing.
    assert!(
        outbound::log(&db.app, Scope::tenant(b), a, None, 50)
            .await?
            .is_empty()
    );
    assert!(
        outbound::get(&db.app, Scope::tenant(b), id)
            .await?
            .is_none()
    );
    // And cannot enqueue into A's log.
    let mut tx = store::begin(&db.app, Scope::tenant(b)).await?;
    let r = outbound::enqueue(&mut tx, &f, a, &url, "nda.voided", &json!({})).await;
    assert!(matches!(r, Err(WebhookError::Database(_))), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn a_private_destination_is_refused_at_enqueue_and_at_delivery() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let (r, _url, port) = receiver(0).await?;
    let strict = fetcher("")?;
    let org = Uuid::new_v4();
    let literal = enqueue(&db, &strict, org, &format!("http://127.0.0.1:{port}/hooks")).await;
    assert!(
        matches!(
            literal,
            Err(WebhookError::Destination(FetchError::Blocked { .. }))
        ),
        "{literal:?}"
    );
    let metadata = enqueue(
        &db,
        &strict,
        org,
        "http://169.254.169.254/latest/meta-data/",
    )
    .await;
    assert!(matches!(metadata, Err(WebhookError::Destination(_))));
    let scheme = enqueue(&db, &strict, org, "file:///etc/passwd").await;
    assert!(matches!(
        scheme,
        Err(WebhookError::Destination(FetchError::BadScheme(_)))
    ));
    // A name is checked when it is resolved, at delivery: refused once, never retried.
    let id = enqueue(&db, &strict, org, &format!("http://localhost:{port}/hooks")).await?;
    let row = settle(&deliverer(&db, &strict)?, &db, org, id).await?;
    assert_eq!((row.status, row.attempts), (DeliveryStatus::Failed, 1));
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("not reachable"),
        "{row:?}"
    );
    assert_eq!(r.seen.load(Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn malformed_deliveries_are_refused_before_they_are_stored() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let f = fetcher("")?;
    let org = Uuid::new_v4();
    let mut tx = store::begin(&db.app, Scope::tenant(org)).await?;
    let bad_type = outbound::enqueue(
        &mut tx,
        &f,
        org,
        "https://example.com/h",
        "Bad Type!",
        &json!({}),
    )
    .await;
    assert!(matches!(bad_type, Err(WebhookError::BadBody(_))));
    let huge = json!({ "blob": "x".repeat(outbound::MAX_BODY_BYTES) });
    let too_big =
        outbound::enqueue(&mut tx, &f, org, "https://example.com/h", "nda.sent", &huge).await;
    assert!(matches!(too_big, Err(WebhookError::BadBody(_))));
    let not_url =
        outbound::enqueue(&mut tx, &f, org, "::not a url::", "nda.sent", &json!({})).await;
    assert!(matches!(
        not_url,
        Err(WebhookError::Destination(FetchError::InvalidUrl(_)))
    ));
    Ok(())
}

#[test]
fn a_forged_or_stale_platform_signature_is_refused() -> anyhow::Result<()> {
    let secret = Secret::new(SECRET.as_bytes().to_vec())?;
    let signer = Signer::new(secret.clone());
    let id = Uuid::new_v4();
    let body = br#"{"nda_id":"n-1"}"#;
    let headers = signer.headers(id, "nda.sent", body)?;
    let v = outbound::verify_signature(&secret, &headers, body, Duration::from_secs(300))?;
    assert_eq!(v.delivery_id, Some(id.to_string()));
    assert!(matches!(
        outbound::verify_signature(&secret, &headers, b"{}", Duration::from_secs(300)),
        Err(WebhookError::BadSignature)
    ));
    let other = Secret::new(b"another secret".to_vec())?;
    assert!(outbound::verify_signature(&other, &headers, body, Duration::from_secs(300)).is_err());
    let old = "1700000000";
    let mut stale = headers.clone();
    stale.insert("x-webhook-timestamp", old.parse()?);
    stale.insert(
        "x-webhook-signature",
        signer.sign(1_700_000_000, body).parse()?,
    );
    assert!(matches!(
        outbound::verify_signature(&secret, &stale, body, Duration::from_secs(300)),
        Err(WebhookError::Stale { .. })
    ));
    Ok(())
}
