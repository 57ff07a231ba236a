//! A service's local, validated copy of its configuration and in-memory flag evaluation.
//!
//! - [`layers`]: the layers (default → tier → tenant → environment), their merge with the
//!   source of every value, and diffs — shared with the config service, which computes the
//!   same `/effective` view;
//! - [`schema`]: JSON Schema checks naming the path and the rule of each violation;
//! - [`flags`]: flag definitions and their evaluation (targeting, sticky rollouts with
//!   Unleash's bucketing in [`murmur`], variants, kill switch, reasons);
//! - [`snapshot`], [`copy`]: what the service sends and the indexed, validated local copy;
//! - [`client`]: the copy behind a watch channel, persisted as the last known good;
//! - [`feed`]: follows the config service's `Watch` stream into a client;
//! - [`kafka`]: follows `config_events` into a client (beside the stream, or alone), fetching
//!   each changed value from the config service;
//! - [`openfeature`]: the OpenFeature provider over the client.
pub mod client;
pub mod copy;
pub mod feed;
pub mod flags;
pub mod kafka;
pub mod layers;
pub mod murmur;
pub mod openfeature;
pub mod schema;
pub mod snapshot;

pub use client::ConfigClient;
pub use copy::{Copy, Target};
pub use feed::Feed;
pub use flags::{Context, Evaluation, FlagDef, Reason};
pub use kafka::EventFeed;
pub use layers::{Layer, Merged, Source};
pub use snapshot::{DocumentLayer, FlagEntry, Snapshot, Update};
