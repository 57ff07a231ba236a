//! Webhook secrets: read from `NAME_FILE` (a file's content, trimmed) or `NAME`; never logged.
use crate::WebhookError;

/// A secret key. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, WebhookError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(WebhookError::Config("an empty secret".into()));
        }
        Ok(Secret(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// `name`'s secret from `lookup`: `<name>_FILE` (path to a file) first, then `<name>`.
    /// Missing outside development: [`WebhookError::MissingSecret`], which stops start-up.
    /// Missing in development: a random secret for this process, logged as such, so the check
    /// stays on and refuses every signature until the real secret is configured.
    pub fn load(
        name: &str,
        lookup: impl Fn(&str) -> Option<String>,
        development: bool,
    ) -> Result<Self, WebhookError> {
        let file_var = format!("{name}_FILE");
        if let Some(path) = lookup(&file_var).filter(|p| !p.trim().is_empty()) {
            let raw = std::fs::read_to_string(path.trim()).map_err(|e| {
                WebhookError::Config(format!("{file_var}: cannot read the file: {e}"))
            })?;
            return Secret::new(raw.trim().as_bytes().to_vec())
                .map_err(|_| WebhookError::Config(format!("{file_var}: the file is empty")));
        }
        if let Some(v) = lookup(name).filter(|v| !v.is_empty()) {
            return Secret::new(v.into_bytes());
        }
        if !development {
            return Err(WebhookError::MissingSecret {
                name: name.to_string(),
            });
        }
        tracing::warn!(
            secret = name,
            "webhook secret not configured: using a random one for this process (every signature will be refused)"
        );
        let mut random = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut random)
            .map_err(|_| WebhookError::Config("no randomness".into()))?;
        Secret::new(random)
    }

    /// [`Self::load`] over the process environment (`FLEET_ENV=development` decides).
    pub fn from_env(name: &str) -> Result<Self, WebhookError> {
        let dev = std::env::var("FLEET_ENV").is_ok_and(|v| v == "development");
        Self::load(name, |k| std::env::var(k).ok(), dev)
    }
}
