//! The service's settings, read once at start: a malformed value stops start-up naming the
//! variable.
use std::time::Duration;

use kit::FleetConfig;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How often done notes are archived (`SERVICE_TEMPLATE_ARCHIVE_EVERY_SECS`).
    pub archive_every: Duration,
    /// How long a note stays done before it is archived (`SERVICE_TEMPLATE_ARCHIVE_AFTER_SECS`).
    pub archive_after: Duration,
}

impl Settings {
    pub fn read(config: &FleetConfig) -> anyhow::Result<Self> {
        Ok(Settings {
            archive_every: config.secs_or(
                "SERVICE_TEMPLATE_ARCHIVE_EVERY_SECS",
                Duration::from_secs(300),
            )?,
            archive_after: config.secs_or(
                "SERVICE_TEMPLATE_ARCHIVE_AFTER_SECS",
                Duration::from_secs(30 * 86_400),
            )?,
        })
    }
}
