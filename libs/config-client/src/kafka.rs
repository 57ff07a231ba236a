//! Feeds a [`ConfigClient`] from the `config_events` topic, beside or instead of the `Watch`
//! stream: every process reads the topic whole ([`events::follow`]: a consumer group of its
//! own, from the earliest offset), so each replica converges on every change even while its
//! Watch stream is down. The events name what changed, not the value: a document is fetched
//! over config's gRPC `Get` (its current version), a flag or a namespace's schema from the
//! change log over a `Watch` opened just before the event's revision and closed once it has
//! the change.
//!
//! An event announcing a version the copy already holds (or an older one) is skipped before
//! anything is fetched, and the client refuses a fetched value older than its own, so a
//! replay of the topic or an event delivered late never takes the copy back.
use std::time::Duration;

use contracts::{
    events::{
        Envelope, Event, topic,
        v1::{ConfigChanged, FlagChanged, SchemaChanged},
    },
    workflow::config::v1::{
        Document, GetRequest, WatchRequest, config_client::ConfigClient as Grpc, watch_event::Body,
    },
};
use events::KafkaConfig;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};

use crate::{
    client::ConfigClient,
    feed::{FeedError, authorized},
    layers::Layer,
    snapshot::{DocumentLayer, Snapshot, Update},
};

/// How long one fetch of a changed value may take.
const FETCH_WITHIN: Duration = Duration::from_secs(10);

/// Where and how to follow `config_events`.
#[derive(Debug, Clone)]
pub struct EventFeed {
    pub kafka: KafkaConfig,
    /// The reader's name (the service's), prefixing its consumer group.
    pub name: String,
    /// The config service's gRPC address (`http://config:9090`), where values are fetched.
    pub url: String,
    /// The internal service credential, sent as `authorization: Bearer …`.
    pub token: Option<String>,
    /// The namespaces to hold; empty: all.
    pub namespaces: Vec<String>,
}

/// What one event says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Document {
        namespace: String,
        key: String,
        layer: Layer,
        scope: String,
        organization_id: Option<String>,
        version: i32,
        revision: i64,
    },
    Flag {
        key: String,
        version: i32,
        revision: i64,
    },
    Schema {
        namespace: String,
        /// The schema's own revision.
        version: i32,
        revision: i64,
    },
}

impl Change {
    /// The change `env` announces: `Ok(None)` for another event type, `Err` for a
    /// `config_changed` or `flag_changed` that cannot be read.
    pub fn of(env: &Envelope) -> Result<Option<Change>, FeedError> {
        let bad = |e: &dyn std::fmt::Display| FeedError::Format(format!("{}: {e}", env.event_id));
        if env.event_type == ConfigChanged::EVENT_TYPE {
            let e: ConfigChanged = env.decode().map_err(|e| bad(&e))?;
            let layer: Layer = serde_json::from_value(serde_json::Value::String(e.layer.clone()))
                .map_err(|_| bad(&format!("no layer named {:?}", e.layer)))?;
            return Ok(Some(Change::Document {
                namespace: e.namespace,
                key: e.key,
                layer,
                scope: e.scope,
                organization_id: (!e.organization_id.is_empty()).then_some(e.organization_id),
                version: e.version,
                revision: e.revision,
            }));
        }
        if env.event_type == FlagChanged::EVENT_TYPE {
            let e: FlagChanged = env.decode().map_err(|e| bad(&e))?;
            return Ok(Some(Change::Flag {
                key: e.flag_key,
                version: e.version,
                revision: e.revision,
            }));
        }
        if env.event_type == SchemaChanged::EVENT_TYPE {
            let e: SchemaChanged = env.decode().map_err(|e| bad(&e))?;
            return Ok(Some(Change::Schema {
                namespace: e.namespace,
                version: e.schema_revision,
                revision: e.revision,
            }));
        }
        Ok(None)
    }

    pub fn revision(&self) -> i64 {
        match self {
            Change::Document { revision, .. }
            | Change::Flag { revision, .. }
            | Change::Schema { revision, .. } => *revision,
        }
    }
}

/// Whether `client` already holds what `change` announces (or something newer).
pub fn is_held(client: &ConfigClient, change: &Change) -> bool {
    let copy = client.current();
    let (held, offered) = match change {
        Change::Document {
            namespace,
            key,
            layer,
            scope,
            organization_id,
            version,
            ..
        } => (
            copy.layer_version(namespace, key, *layer, scope, organization_id.as_deref()),
            *version,
        ),
        Change::Flag { key, version, .. } => (copy.flag(key).map(|f| f.version), *version),
        Change::Schema {
            namespace, version, ..
        } => (copy.schema_revision(namespace), *version),
    };
    held.is_some_and(|held| held >= offered)
}

impl EventFeed {
    /// Follows the topic into `client` until `stop`: the reader restarts after a broker
    /// failure, and a change whose value cannot be fetched yet (config unreachable) is retried
    /// with backoff until it is applied, superseded, or `stop`.
    pub async fn run(self, client: ConfigClient, stop: CancellationToken) {
        let channel = match Endpoint::from_shared(self.url.clone()) {
            Ok(e) => e
                .connect_timeout(Duration::from_secs(3))
                .timeout(FETCH_WITHIN)
                .connect_lazy(),
            Err(e) => {
                tracing::error!(error = %e, "the config service's address is not a URL");
                return;
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read(
            self.kafka.clone(),
            format!("{}.config", self.name),
            tx,
            stop.clone(),
        ));
        loop {
            let env = tokio::select! {
                _ = stop.cancelled() => break,
                e = rx.recv() => match e {
                    Some(e) => e,
                    None => break,
                },
            };
            match Change::of(&env) {
                Ok(Some(change)) if self.concerns(&change) && !is_held(&client, &change) => {
                    self.settle(&client, &channel, change, &stop).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable config event"),
            }
        }
        let _ = reader.await;
    }

    fn concerns(&self, change: &Change) -> bool {
        match change {
            Change::Document { namespace, .. } | Change::Schema { namespace, .. } => {
                self.namespaces.is_empty() || self.namespaces.contains(namespace)
            }
            Change::Flag { .. } => true,
        }
    }

    /// Fetches and applies one change, retrying while config is unreachable.
    async fn settle(
        &self,
        client: &ConfigClient,
        channel: &Channel,
        change: Change,
        stop: &CancellationToken,
    ) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.fetch(channel, &change).await {
                Ok(Some(update)) => {
                    match client.apply(update, change.revision()).await {
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e,
                            "config change refused; keeping the previous value"),
                    }
                    return;
                }
                Ok(None) => return,
                Err(FeedError::Format(e)) => {
                    tracing::warn!(error = %e, "config sent an unreadable value; skipped");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "fetching a config change; retrying"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            // The Watch stream may have brought it meanwhile.
            if is_held(client, &change) {
                return;
            }
        }
    }

    /// The update that brings `change`: `Ok(None)` when config no longer has it.
    async fn fetch(&self, channel: &Channel, change: &Change) -> Result<Option<Update>, FeedError> {
        match change {
            Change::Document {
                namespace,
                key,
                layer,
                scope,
                organization_id,
                ..
            } => {
                let req = GetRequest {
                    namespace: namespace.clone(),
                    key: key.clone(),
                    layer: layer.as_str().into(),
                    scope: scope.clone(),
                    organization_id: organization_id.clone().unwrap_or_default(),
                };
                let got = Grpc::new(channel.clone())
                    .get(authorized(self.token.as_deref(), req))
                    .await;
                match got {
                    Ok(doc) => document(doc.into_inner()).map(Some),
                    Err(s) if gone(&s) => {
                        tracing::warn!(namespace = %namespace, key = %key, error = %s.message(),
                            "a changed document is not served; skipped");
                        Ok(None)
                    }
                    Err(s) => Err(FeedError::Transport(s.message().to_string())),
                }
            }
            Change::Flag { key, revision, .. } => {
                self.logged(channel, *revision, |b| flag_in(b, key)).await
            }
            Change::Schema {
                namespace,
                revision,
                ..
            } => {
                self.logged(channel, *revision, |b| schema_in(b, namespace))
                    .await
            }
        }
    }

    /// The change logged at `revision`, as `pick` finds it: in the first change a `Watch`
    /// after `revision - 1` sends, or in its snapshot when that is where it starts.
    async fn logged(
        &self,
        channel: &Channel,
        revision: i64,
        pick: impl Fn(Option<Body>) -> Result<Option<Update>, FeedError>,
    ) -> Result<Option<Update>, FeedError> {
        let req = WatchRequest {
            namespaces: self.namespaces.clone(),
            since_revision: (revision - 1).max(0),
        };
        let transport = |s: tonic::Status| FeedError::Transport(s.message().to_string());
        let read = async {
            let mut stream = Grpc::new(channel.clone())
                .watch(authorized(self.token.as_deref(), req))
                .await
                .map_err(transport)?
                .into_inner();
            while let Some(event) = stream.message().await.map_err(transport)? {
                if let Some(found) = pick(event.body)? {
                    return Ok(Some(found));
                }
                if event.revision >= revision {
                    break;
                }
            }
            Ok(None)
        };
        match tokio::time::timeout(FETCH_WITHIN, read).await {
            Ok(r) => r,
            Err(_) => Err(FeedError::Transport(format!(
                "the change log did not send revision {revision} in time"
            ))),
        }
    }
}

/// Whether a fetch failed for good (nothing there, or a request config refuses).
fn gone(s: &tonic::Status) -> bool {
    matches!(s.code(), Code::NotFound | Code::InvalidArgument)
}

fn document(d: Document) -> Result<Update, FeedError> {
    let format = |e: &dyn std::fmt::Display| FeedError::Format(e.to_string());
    let layer: Layer =
        serde_json::from_value(serde_json::Value::String(d.layer)).map_err(|e| format(&e))?;
    Ok(Update::Document {
        document: DocumentLayer {
            value: serde_json::from_str(&d.value_json).map_err(|e| format(&e))?,
            namespace: d.namespace,
            key: d.key,
            layer,
            scope: d.scope,
            organization_id: (!d.organization_id.is_empty()).then_some(d.organization_id),
            version: d.version,
        },
    })
}

/// Flag `key`'s entry in a Watch message, if it carries one.
fn flag_in(body: Option<Body>, key: &str) -> Result<Option<Update>, FeedError> {
    let format = |e: serde_json::Error| FeedError::Format(e.to_string());
    let flag = match body {
        Some(Body::SnapshotJson(s)) => serde_json::from_str::<Snapshot>(&s)
            .map_err(format)?
            .flags
            .into_iter()
            .find(|f| f.key == key),
        Some(Body::UpdateJson(u)) => match serde_json::from_str(&u).map_err(format)? {
            Update::Flag { flag } if flag.key == key => Some(flag),
            _ => None,
        },
        None => None,
    };
    Ok(flag.map(|flag| Update::Flag { flag }))
}

/// Namespace `ns`'s schema in a Watch message, if it carries it.
fn schema_in(body: Option<Body>, ns: &str) -> Result<Option<Update>, FeedError> {
    let format = |e: serde_json::Error| FeedError::Format(e.to_string());
    match body {
        Some(Body::SnapshotJson(s)) => {
            let mut snapshot = serde_json::from_str::<Snapshot>(&s).map_err(format)?;
            let revision = snapshot.schema_revisions.get(ns).copied().unwrap_or(0);
            Ok(snapshot.schemas.remove(ns).map(|schema| Update::Schema {
                namespace: ns.to_string(),
                schema,
                revision,
            }))
        }
        Some(Body::UpdateJson(u)) => match serde_json::from_str(&u).map_err(format)? {
            found @ Update::Schema { .. } if found.namespace() == Some(ns) => Ok(Some(found)),
            _ => Ok(None),
        },
        None => Ok(None),
    }
}

/// Reads the topic into `tx` until `stop`, starting again after a broker failure.
async fn read(
    kafka: KafkaConfig,
    name: String,
    tx: mpsc::UnboundedSender<Envelope>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let sink = tx.clone();
        let followed = events::follow(
            &kafka,
            &name,
            topic::CONFIG,
            move |env| {
                let _ = sink.send(env);
            },
            stop.clone(),
        )
        .await;
        if let Err(e) = followed {
            tracing::warn!(error = %e, "following config_events failed; retrying");
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
}
