//! Background jobs: a long-running task, or a step run every period (jittered, stopped on
//! shutdown, its runs and failures counted in `/metrics`).
use std::{future::Future, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    metrics::{JobLabels, Metrics},
    service::BoxFuture,
};

type Step = Arc<dyn Fn() -> BoxFuture<anyhow::Result<()>> + Send + Sync>;

enum Kind {
    Task(Box<dyn FnOnce(CancellationToken) -> BoxFuture<()> + Send>),
    Every { period: Duration, step: Step },
}

/// A background job of a service, started by the runtime and stopped on shutdown.
pub struct Job {
    pub name: &'static str,
    kind: Kind,
}

impl Job {
    /// A task that runs until the token is cancelled.
    pub fn new<F, Fut>(name: &'static str, f: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Job {
            name,
            kind: Kind::Task(Box::new(move |t| Box::pin(f(t)))),
        }
    }

    /// `step` at once, then every `period` (±10 %, so replicas do not run in lockstep). A failed
    /// step is logged and counted; the next runs on time.
    pub fn every<F, Fut>(name: &'static str, period: Duration, step: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Job {
            name,
            kind: Kind::Every {
                period,
                step: Arc::new(move || Box::pin(step())),
            },
        }
    }

    /// The job's future (the runtime spawns it).
    pub(crate) fn start(self, stop: CancellationToken, metrics: Metrics) -> BoxFuture<()> {
        let name = self.name;
        match self.kind {
            Kind::Task(f) => f(stop),
            Kind::Every { period, step } => Box::pin(async move {
                let labels = JobLabels {
                    job: name.to_string(),
                };
                loop {
                    metrics.job_runs.get_or_create(&labels).inc();
                    if let Err(e) = step().await {
                        metrics.job_failures.get_or_create(&labels).inc();
                        tracing::warn!(job = name, error = %e, "job run failed");
                    }
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(jittered(period)) => {}
                    }
                }
            }),
        }
    }
}

/// `period` ±10 %.
fn jittered(period: Duration) -> Duration {
    let mut b = [0u8; 2];
    if getrandom::fill(&mut b).is_err() {
        return period;
    }
    let r = f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX); // 0..=1
    period.mul_f64(0.9 + 0.2 * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(9) && d <= Duration::from_secs(11),
                "{d:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_periodic_job_counts_runs_and_failures_and_stops() {
        let metrics = Metrics::new("jobs-test");
        let n = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let n2 = n.clone();
        let job = Job::every("flaky", Duration::from_millis(5), move || {
            let n = n2.clone();
            async move {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                anyhow::ensure!(i.is_multiple_of(2), "odd run");
                Ok(())
            }
        });
        let stop = CancellationToken::new();
        let handle = tokio::spawn(job.start(stop.clone(), metrics.clone()));
        tokio::time::sleep(Duration::from_millis(60)).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(1), handle)
            .await
            .expect("stops on shutdown")
            .expect("joins");
        let text = metrics.render();
        let runs = n.load(std::sync::atomic::Ordering::SeqCst);
        assert!(runs >= 3, "{runs} runs");
        assert!(text.contains("job_runs_total{"), "{text}");
        assert!(text.contains("job_failures_total{"), "{text}");
    }
}
