//! Readiness: the service's database, broker and cache answer. Results are cached briefly so a
//! probe storm cannot turn into a storm on the dependencies.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{http::StatusCode, response::IntoResponse};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::metrics::{CheckLabels, Metrics};

const CACHE_FOR: Duration = Duration::from_millis(1000);
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: &'static str,
    pub service: &'static str,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub dependency: &'static str,
    pub ok: bool,
}

#[derive(Clone)]
pub struct Readiness {
    service: &'static str,
    db: store::PgPool,
    redis: cache::Pool,
    producer: events::Producer,
    metrics: Metrics,
    last: Arc<Mutex<Option<(Instant, Report)>>>,
}

impl Readiness {
    pub fn new(
        service: &'static str,
        db: store::PgPool,
        redis: cache::Pool,
        producer: events::Producer,
        metrics: Metrics,
    ) -> Self {
        Readiness {
            service,
            db,
            redis,
            producer,
            metrics,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// The current report (cached for a second).
    pub async fn check(&self) -> Report {
        let mut last = self.last.lock().await;
        if let Some((at, r)) = last.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return r.clone();
        }
        let (db, redis, kafka) = tokio::join!(
            tokio::time::timeout(CHECK_TIMEOUT, store::ping(&self.db)),
            tokio::time::timeout(CHECK_TIMEOUT, cache::ping(&self.redis)),
            self.producer.ping(CHECK_TIMEOUT),
        );
        let checks = vec![
            Check {
                dependency: "database",
                ok: matches!(db, Ok(Ok(()))),
            },
            Check {
                dependency: "redis",
                ok: matches!(redis, Ok(Ok(()))),
            },
            Check {
                dependency: "kafka",
                ok: kafka.is_ok(),
            },
        ];
        for c in &checks {
            self.metrics
                .dependency_up
                .get_or_create(&CheckLabels {
                    dependency: c.dependency.to_string(),
                })
                .set(i64::from(c.ok));
        }
        let report = Report {
            status: if checks.iter().all(|c| c.ok) {
                "ready"
            } else {
                "not_ready"
            },
            service: self.service,
            checks,
        };
        *last = Some((Instant::now(), report.clone()));
        report
    }

    pub async fn is_ready(&self) -> bool {
        self.check().await.status == "ready"
    }

    /// 200 when ready, 503 otherwise, with the per-dependency result (no error details).
    pub async fn respond(&self) -> axum::response::Response {
        let r = self.check().await;
        let code = if r.status == "ready" {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, axum::Json(r)).into_response()
    }
}
