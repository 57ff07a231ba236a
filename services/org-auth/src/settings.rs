//! The service's own settings, read once at start: a malformed value stops start-up naming
//! the variable. (The OAuth providers are read where they are built.)
use std::{
    num::{NonZeroU32, NonZeroU64, NonZeroUsize},
    time::Duration,
};

use kit::FleetConfig;

use crate::security::HashBound;

/// Four hashes at once hold 76 MiB at most: room to spare in a 512 MiB pod.
const HASHES_AT_ONCE: NonZeroUsize = NonZeroUsize::new(4).expect("4 is not zero");
const HASH_WAIT_MS: NonZeroU64 = NonZeroU64::new(2000).expect("2000 is not zero");
/// A year of audit entries is kept.
const AUDIT_RETENTION_DAYS: NonZeroU32 = NonZeroU32::new(365).expect("365 is not zero");

#[derive(Debug, Clone)]
pub struct Settings {
    /// How often unclaimed assisted accounts are reminded and expired
    /// (`ORG_AUTH_EXPIRY_SWEEP_SECS`, 60 by default).
    pub expiry_sweep: Duration,
    /// How often members' noted activity is written (`ORG_AUTH_ACTIVITY_FLUSH_SECS`, 15 by
    /// default); one member is written at most once a minute whatever this is.
    pub activity_flush: Duration,
    /// Base of links in emails and answers, without a trailing `/` (`APP_BASE_URL`;
    /// `http://localhost:3000` in development).
    pub app_url: String,
    /// How many password hashes run at once (`ORG_AUTH_HASH_CONCURRENCY`, 4 by default: 19 MiB
    /// each) and how long a request waits for a turn before it is answered 503
    /// (`ORG_AUTH_HASH_WAIT_MS`, 2000 by default).
    pub hashing: HashBound,
    /// How many days audit entries are kept (`ORG_AUTH_AUDIT_RETENTION_DAYS`, 365 by default).
    pub audit_retention_days: u32,
    /// How often older entries are deleted (`ORG_AUTH_AUDIT_RETENTION_SWEEP_SECS`, 3600 by
    /// default).
    pub audit_retention_sweep: Duration,
    /// Whether a sales agent's assisted account waits for a platform admin
    /// (`ORG_AUTH_ASSISTED_APPROVAL`: `required` by default, as the spec has it, or `auto`).
    pub assisted_approval: ApprovalMode,
}

/// How assisted accounts created by agents other than platform admins are approved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApprovalMode {
    /// A platform admin approves each (spec §0, "Approval Workflows" 6 and 9).
    #[default]
    Required,
    /// Each is approved as it is created.
    Auto,
}

impl std::str::FromStr for ApprovalMode {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "required" => Ok(ApprovalMode::Required),
            "auto" => Ok(ApprovalMode::Auto),
            _ => Err("must be required or auto"),
        }
    }
}

impl Settings {
    pub fn read(config: &FleetConfig) -> anyhow::Result<Self> {
        Ok(Settings {
            expiry_sweep: config.secs_or("ORG_AUTH_EXPIRY_SWEEP_SECS", Duration::from_secs(60))?,
            activity_flush: config
                .secs_or("ORG_AUTH_ACTIVITY_FLUSH_SECS", Duration::from_secs(15))?,
            app_url: config
                .require("APP_BASE_URL", Some("http://localhost:3000"))?
                .trim_end_matches('/')
                .to_string(),
            hashing: HashBound {
                permits: config
                    .parse_or("ORG_AUTH_HASH_CONCURRENCY", HASHES_AT_ONCE)?
                    .get(),
                wait: Duration::from_millis(
                    config
                        .parse_or("ORG_AUTH_HASH_WAIT_MS", HASH_WAIT_MS)?
                        .get(),
                ),
            },
            audit_retention_days: config
                .parse_or("ORG_AUTH_AUDIT_RETENTION_DAYS", AUDIT_RETENTION_DAYS)?
                .get(),
            audit_retention_sweep: config.secs_or(
                "ORG_AUTH_AUDIT_RETENTION_SWEEP_SECS",
                Duration::from_secs(3600),
            )?,
            assisted_approval: config
                .parse_or("ORG_AUTH_ASSISTED_APPROVAL", ApprovalMode::Required)?,
        })
    }
}

/// The key sealing TOTP secrets: `ORG_AUTH_MFA_KEY` (base64 of 32 bytes), required in
/// production; in development, generated once into the state directory and kept, so secrets
/// sealed before a restart still open.
pub fn mfa_key(config: &FleetConfig) -> anyhow::Result<Vec<u8>> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let (encoded, source) = match config.get("ORG_AUTH_MFA_KEY") {
        Some(k) => (k.to_string(), "ORG_AUTH_MFA_KEY".to_string()),
        None if config.is_dev() => {
            let kept = config
                .dev_secret("mfa-key", || {
                    let mut k = [0u8; 32];
                    getrandom::fill(&mut k)?;
                    Ok(format!("{}\n", STANDARD.encode(k)).into_bytes())
                })
                .map_err(|e| anyhow::anyhow!("development MFA key: {e:#}"))?;
            let path = config.dev_secret_path("mfa-key").display().to_string();
            tracing::warn!(
                path = %path,
                "development mode: no ORG_AUTH_MFA_KEY, sealing TOTP secrets with the kept development key"
            );
            (String::from_utf8_lossy(&kept).into_owned(), path)
        }
        None => anyhow::bail!(
            "configuration: ORG_AUTH_MFA_KEY (base64, 32 bytes) is required in production"
        ),
    };
    STANDARD
        .decode(encoded.trim())
        .map_err(|_| anyhow::anyhow!("{source} must be base64 of 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let mut env: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("FLEET_ENV".into(), "development".into());
        Settings::read(&FleetConfig::from_map(env)?)
    }

    #[test]
    fn defaults_and_given_values() -> anyhow::Result<()> {
        let d = read(&[])?;
        assert_eq!(d.expiry_sweep, Duration::from_secs(60));
        assert_eq!(d.app_url, "http://localhost:3000");
        assert_eq!(d.hashing.permits, 4);
        assert_eq!(d.hashing.wait, Duration::from_secs(2));
        assert_eq!(d.audit_retention_days, 365);
        assert_eq!(d.audit_retention_sweep, Duration::from_secs(3600));
        assert_eq!(d.assisted_approval, ApprovalMode::Required);
        let s = read(&[
            ("ORG_AUTH_EXPIRY_SWEEP_SECS", "5"),
            ("APP_BASE_URL", "https://app.workflow.com/"),
            ("ORG_AUTH_HASH_CONCURRENCY", "2"),
            ("ORG_AUTH_HASH_WAIT_MS", "250"),
            ("ORG_AUTH_AUDIT_RETENTION_DAYS", "90"),
            ("ORG_AUTH_ASSISTED_APPROVAL", "auto"),
        ])?;
        assert_eq!(s.assisted_approval, ApprovalMode::Auto);
        assert_eq!(s.audit_retention_days, 90);
        assert_eq!(s.expiry_sweep, Duration::from_secs(5));
        assert_eq!(s.app_url, "https://app.workflow.com");
        assert_eq!(s.hashing.permits, 2);
        assert_eq!(s.hashing.wait, Duration::from_millis(250));
        Ok(())
    }

    #[test]
    fn a_zero_or_malformed_hashing_bound_stops_start_up_naming_the_variable() {
        for key in ["ORG_AUTH_HASH_CONCURRENCY", "ORG_AUTH_HASH_WAIT_MS"] {
            for bad in ["0", "-1", "many"] {
                let err = read(&[(key, bad)]).expect_err(bad).to_string();
                assert!(err.contains(key), "{key}={bad}: {err}");
            }
        }
    }

    #[test]
    fn a_zero_or_malformed_retention_stops_start_up_naming_the_variable() {
        for bad in ["0", "-1", "a year", "1.5"] {
            let err = read(&[("ORG_AUTH_AUDIT_RETENTION_DAYS", bad)])
                .expect_err(bad)
                .to_string();
            assert!(
                err.contains("ORG_AUTH_AUDIT_RETENTION_DAYS"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_unknown_approval_mode_stops_start_up_naming_the_variable() {
        for bad in ["none", "Required", "yes"] {
            let err = read(&[("ORG_AUTH_ASSISTED_APPROVAL", bad)])
                .expect_err(bad)
                .to_string();
            assert!(err.contains("ORG_AUTH_ASSISTED_APPROVAL"), "{bad}: {err}");
            assert!(err.contains("required or auto"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_malformed_sweep_period_stops_start_up_naming_the_variable() {
        for bad in ["abc", "0", "-5", "1.5"] {
            let err = read(&[("ORG_AUTH_EXPIRY_SWEEP_SECS", bad)])
                .expect_err(bad)
                .to_string();
            assert!(err.contains("ORG_AUTH_EXPIRY_SWEEP_SECS"), "{bad}: {err}");
        }
    }
}
