//! The client a service holds: the current [`Copy`] behind a tokio watch channel (readers
//! borrow it without waiting; `changes()` wakes a service when a value changed), and the last
//! known good copy persisted to a file, so a service starts with its configuration even while
//! the config service is down. Changes are applied one at a time, each to the copy the last
//! one published, so two feeds (the Watch stream and `config_events`) never lose each other's
//! change; and none takes the copy back to an older version of a layer or flag.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::sync::watch;

use crate::{
    copy::{Copy, Refused, Target},
    flags::{Context, Evaluation},
    layers::Merged,
    snapshot::{Snapshot, Update},
};

#[derive(Clone)]
pub struct ConfigClient {
    tx: Arc<watch::Sender<Arc<Copy>>>,
    rx: watch::Receiver<Arc<Copy>>,
    last_known_good: Option<PathBuf>,
    /// Held while a change is built, published and persisted.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ConfigClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigClient")
            .field("revision", &self.revision())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a configuration snapshot: {source}")]
    Format {
        path: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Refused(#[from] Refused),
}

impl ConfigClient {
    /// An empty client (revision 0) that persists nothing.
    pub fn empty() -> Self {
        let (tx, rx) = watch::channel(Arc::new(Copy::default()));
        ConfigClient {
            tx: Arc::new(tx),
            rx,
            last_known_good: None,
            writing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// A client that keeps its last known good copy at `path`, starting from it when it exists
    /// and holds a valid snapshot (a missing file starts empty; a corrupt one is an error).
    pub fn with_last_known_good(path: impl Into<PathBuf>) -> Result<Self, LoadError> {
        let path = path.into();
        let mut client = ConfigClient::empty();
        if let Some(snapshot) = read_snapshot(&path)? {
            client.tx.send_replace(Arc::new(Copy::build(snapshot)?));
        }
        client.last_known_good = Some(path);
        Ok(client)
    }

    /// The current copy (a cheap clone of an `Arc`).
    pub fn current(&self) -> Arc<Copy> {
        self.rx.borrow().clone()
    }

    pub fn revision(&self) -> i64 {
        self.rx.borrow().revision()
    }

    /// A receiver that wakes on every accepted change (`changed().await`).
    pub fn changes(&self) -> watch::Receiver<Arc<Copy>> {
        self.tx.subscribe()
    }

    /// Evaluates flag `key` in memory.
    pub fn evaluate(&self, key: &str, ctx: &Context) -> Evaluation {
        self.rx.borrow().evaluate(key, ctx)
    }

    pub fn effective(&self, ns: &str, key: &str, target: &Target) -> Option<Merged> {
        self.rx.borrow().effective(ns, key, target)
    }

    /// Whether the copy already holds `update`'s layer or flag at its version or a newer one.
    pub fn is_stale(&self, update: &Update) -> bool {
        self.rx.borrow().is_stale(update)
    }

    /// Replaces the copy with a validated `snapshot` and persists it. A layer or flag the copy
    /// holds at a newer version than the snapshot's is kept (the snapshot was taken before it).
    pub async fn replace(&self, mut snapshot: Snapshot) -> Result<(), Refused> {
        let _writing = self.writing.lock().await;
        snapshot.keep_newer(self.current().snapshot());
        let copy = Copy::build(snapshot)?;
        self.publish(copy).await;
        Ok(())
    }

    /// Applies one update: `Ok(true)` when applied, `Ok(false)` when it is stale (the copy
    /// holds that layer or flag at its version or a newer one, so nothing goes back). A
    /// refused update leaves the copy as it was.
    pub async fn apply(&self, update: Update, revision: i64) -> Result<bool, Refused> {
        let _writing = self.writing.lock().await;
        let current = self.current();
        if current.is_stale(&update) {
            return Ok(false);
        }
        let copy = current.with(update, revision)?;
        self.publish(copy).await;
        Ok(true)
    }

    /// Publishes `copy` to the readers, then persists it (under the writing lock, so files are
    /// written in the order the copies were published).
    async fn publish(&self, copy: Copy) {
        let copy = Arc::new(copy);
        self.tx.send_replace(copy.clone());
        if let Some(path) = &self.last_known_good {
            let (path, c) = (path.clone(), copy.clone());
            // Written off the async workers; a failure to persist is logged, not fatal: the
            // copy in memory is still the newest.
            let written =
                tokio::task::spawn_blocking(move || write_snapshot(&path, c.snapshot())).await;
            if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                tracing::warn!(error = %e, "could not persist the last known good configuration");
            }
        }
    }
}

fn read_snapshot(path: &Path) -> Result<Option<Snapshot>, LoadError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| LoadError::Format {
            path: path.display().to_string(),
            source,
        })
}

/// Writes atomically: a temporary file beside it, then a rename, so a crash never leaves a
/// half-written copy.
fn write_snapshot(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(snapshot)?)?;
    std::fs::rename(tmp, path)
}
