//! Closing a group consumer without holding anything else up.
//!
//! Dropping an rdkafka consumer that belongs to a group closes it: it tells the coordinator the
//! member leaves and then polls *until the broker has answered* — with no bound (rust-rdkafka
//! issue #509: a consumer dropped mid-join, or whose coordinator never answers, spins there
//! forever). Run on an async worker, that stops every task on the thread; run on tokio's
//! blocking pool, it stops the runtime's shutdown, which waits for blocking tasks. So a consumer
//! is only ever dropped on a thread of its own ([`Closing`]), the caller waits for the close a
//! bounded time ([`Closing::close`]), and a consumer whose task is cancelled (a runtime shutting
//! down drops its futures) goes the same way.
use std::{sync::Arc, time::Duration};

/// How long a leaving member waits for the broker to acknowledge it (a healthy broker answers
/// in milliseconds; the member is evicted after its session timeout either way).
pub(crate) const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// An owned consumer (or anything whose drop may block without bound): dropped on a detached
/// thread, never on the caller's.
pub(crate) struct Closing<T: Send + Sync + 'static> {
    inner: Option<Arc<T>>,
    what: &'static str,
}

impl<T: Send + Sync + 'static> Closing<T> {
    pub(crate) fn new(value: T, what: &'static str) -> Self {
        Closing {
            inner: Some(Arc::new(value)),
            what,
        }
    }

    /// Another handle on the same value (for work on the blocking pool): whichever handle is
    /// dropped last closes it, on a thread of its own.
    pub(crate) fn share(&self) -> Self {
        Closing {
            inner: self.inner.clone(),
            what: self.what,
        }
    }

    /// Closes on a thread of its own and waits up to `within` for it. Past that the close goes
    /// on in the background (its thread ends when the broker answers or the process exits) and
    /// the caller moves on: a member that could not say goodbye is evicted by the broker after
    /// its session timeout, which is what would have happened had the process died.
    pub(crate) async fn close(mut self, within: Duration) -> bool {
        // Another handle still holds it: the last one to go closes it.
        let Some(value) = self.inner.take().and_then(Arc::into_inner) else {
            return true;
        };
        let (done, closed) = tokio::sync::oneshot::channel();
        let what = self.what;
        if !detach(what, move || {
            drop(value);
            let _ = done.send(());
        }) {
            return false;
        }
        match tokio::time::timeout(within, closed).await {
            Ok(_) => true,
            Err(_) => {
                tracing::warn!(
                    what,
                    within_s = within.as_secs(),
                    "the broker has not acknowledged the close; leaving it to finish in the background"
                );
                false
            }
        }
    }
}

impl<T: Send + Sync + 'static> std::ops::Deref for Closing<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.inner
            .as_deref()
            .expect("a Closing holds its value until it is closed")
    }
}

impl<T: Send + Sync + 'static> Drop for Closing<T> {
    fn drop(&mut self) {
        // `into_inner` answers the value to exactly one of the handles dropped: the last.
        if let Some(value) = self.inner.take().and_then(Arc::into_inner) {
            detach(self.what, move || drop(value));
        }
    }
}

/// Runs `f` on a detached, named thread. If no thread can be started the value is leaked
/// rather than dropped here (a blocked caller is worse than a leaked consumer).
fn detach(what: &'static str, f: impl FnOnce() + Send + 'static) -> bool {
    let slot = Arc::new(std::sync::Mutex::new(Some(f)));
    let run = Arc::clone(&slot);
    let started = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || {
            let f = run.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(f) = f {
                f();
            }
        });
    if let Err(e) = started {
        tracing::warn!(what, error = %e, "no thread to close on; leaving the client open");
        let f = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        std::mem::forget(f);
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Something whose drop blocks until told to go on.
    struct Stuck(
        std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
        std::sync::mpsc::Sender<()>,
    );
    impl Drop for Stuck {
        fn drop(&mut self) {
            let _ = self.0.lock().map(|r| r.recv());
            let _ = self.1.send(());
        }
    }

    fn stuck() -> (
        Stuck,
        std::sync::mpsc::Sender<()>,
        std::sync::mpsc::Receiver<()>,
    ) {
        let (go, wait) = std::sync::mpsc::channel();
        let (dropped, seen) = std::sync::mpsc::channel();
        (Stuck(std::sync::Mutex::new(wait), dropped), go, seen)
    }

    #[tokio::test]
    async fn a_close_that_never_finishes_answers_after_its_bound_and_finishes_later() {
        let (value, go, seen) = stuck();
        let c = Closing::new(value, "test");
        assert!(!c.close(Duration::from_millis(100)).await);
        go.send(()).expect("the close thread is waiting");
        seen.recv_timeout(Duration::from_secs(5))
            .expect("the close finished on its own thread");
    }

    #[test]
    fn a_runtime_dropping_a_task_that_holds_a_stuck_close_does_not_wait_for_it() {
        let (value, go, seen) = stuck();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.spawn(async move {
            let _held = Closing::new(value, "test");
            std::future::pending::<()>().await;
        });
        rt.block_on(tokio::task::yield_now());
        // Dropping the runtime drops the task and with it the consumer: on its own thread.
        let (dropped, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(rt);
            let _ = dropped.send(());
        });
        done.recv_timeout(Duration::from_secs(5))
            .expect("the runtime shut down while the close was still blocked");
        go.send(()).expect("the close thread is waiting");
        seen.recv_timeout(Duration::from_secs(5))
            .expect("the close finished on its own thread");
    }

    #[tokio::test]
    async fn a_prompt_close_is_reported_done() {
        let c = Closing::new(vec![1u8], "test");
        let shared = c.share();
        drop(shared);
        assert!(c.close(Duration::from_secs(5)).await);
    }
}
