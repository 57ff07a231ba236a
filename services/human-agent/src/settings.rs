//! human-agent's settings, read once at start (a malformed value stops start-up naming it).
use std::time::Duration;

use kit::FleetConfig;

use crate::presence;

/// human-agent's own settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How often Redis presence and queues are rebuilt from PostgreSQL.
    pub reconcile_every: Duration,
}

impl Settings {
    pub fn read(config: &FleetConfig) -> anyhow::Result<Self> {
        Ok(Settings {
            reconcile_every: config.secs_or(
                "HUMAN_AGENT_PRESENCE_RECONCILE_SECS",
                presence::RECONCILE_EVERY,
            )?,
        })
    }
}
