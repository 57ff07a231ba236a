//! Feeds a [`ConfigClient`] from the config service's `Watch` stream: a snapshot, then every
//! change as it commits; reconnects with backoff (from the revision it holds) until stopped.
use std::time::Duration;

use contracts::workflow::config::v1::{
    WatchRequest, config_client::ConfigClient as Grpc, watch_event::Body,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Endpoint};

use crate::{
    client::ConfigClient,
    snapshot::{Snapshot, Update},
};

/// Where and how to follow the stream.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The config service's gRPC address (`http://config:9090`).
    pub url: String,
    /// The internal service credential, sent as `authorization: Bearer …`.
    pub token: Option<String>,
    /// The namespaces to hold; empty: all.
    pub namespaces: Vec<String>,
}

impl Feed {
    /// Follows the stream into `client` until `stop`.
    pub async fn run(self, client: ConfigClient, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.follow(&client) => r,
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "config watch interrupted; reconnecting");
            } else {
                backoff = Duration::from_millis(100);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn follow(&self, client: &ConfigClient) -> Result<(), FeedError> {
        let channel = Endpoint::from_shared(self.url.clone())
            .map_err(|e| FeedError::Transport(e.to_string()))?
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .map_err(|e| FeedError::Transport(e.to_string()))?;
        let req = authorized(
            self.token.as_deref(),
            WatchRequest {
                namespaces: self.namespaces.clone(),
                since_revision: client.revision(),
            },
        );
        let mut stream = Grpc::new(channel)
            .watch(req)
            .await
            .map_err(|s| FeedError::Transport(s.message().to_string()))?
            .into_inner();
        while let Some(event) = stream
            .message()
            .await
            .map_err(|s| FeedError::Transport(s.message().to_string()))?
        {
            apply(client, event.revision, event.body).await?;
        }
        Ok(())
    }
}

/// `msg` with the internal service credential as `authorization: Bearer …` metadata.
pub(crate) fn authorized<T>(token: Option<&str>, msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    if let Some(t) = token
        && let Ok(v) = format!("Bearer {t}").parse()
    {
        req.metadata_mut().insert("authorization", v);
    }
    req
}

async fn apply(client: &ConfigClient, revision: i64, body: Option<Body>) -> Result<(), FeedError> {
    match body {
        Some(Body::SnapshotJson(s)) => {
            let snapshot: Snapshot =
                serde_json::from_str(&s).map_err(|e| FeedError::Format(e.to_string()))?;
            if let Err(e) = client.replace(snapshot).await {
                tracing::warn!(error = %e, "config snapshot refused; keeping the last known good");
            }
        }
        Some(Body::UpdateJson(u)) => {
            let update: Update =
                serde_json::from_str(&u).map_err(|e| FeedError::Format(e.to_string()))?;
            if let Err(e) = client.apply(update, revision).await {
                tracing::warn!(error = %e, "config update refused; keeping the previous value");
            }
        }
        None => {}
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("config service unreachable: {0}")]
    Transport(String),
    #[error("config stream sent an unreadable message: {0}")]
    Format(String),
}
