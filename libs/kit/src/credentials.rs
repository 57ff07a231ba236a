//! Internal callers' credentials (ARCHITECTURE §7): each caller — Kong, and every service by
//! name — presents its own token as `authorization: Bearer …`; a callee knows only the
//! SHA-256 digests of its callers' tokens (so it never holds a token it could use to pose as a
//! caller to a third service) and admits a call only when the caller's [`Grant`] on it lists
//! the gRPC method or the internal route.
//!
//! Settings:
//! - `FLEET_INTERNAL_CALLERS_DIR`: one file per caller, named for it (`kong`,
//!   `human-agent`), holding the lower-case hex SHA-256 of its token. Dot-files (a mounted
//!   volume's `..data`) are skipped.
//! - `<SERVICE>_INTERNAL_CREDENTIAL_FILE`, or `FLEET_INTERNAL_CREDENTIAL_FILE` in a process
//!   serving one target: the service's own token, presented to its peers.
//! - Development without them: each credential is generated once into the state directory
//!   (`var/internal-credential-<caller>`, mode 600) — callee and caller, in one process or
//!   several, read the same file. The retired shared `FLEET_INTERNAL_TOKEN(_FILE)` is still
//!   accepted in development only, as the caller `development` with every method allowed (and
//!   presented as the own token when no other is set); production refuses to start with it.
use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use aws_lc_rs::digest;

use crate::{config::FleetConfig, grpc::same, service::Grant};

/// The caller the retired shared development token stands for.
pub const DEVELOPMENT: &str = "development";
/// Kong's caller name (its `agent-permissions` lookup).
pub const KONG: &str = "kong";

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credential, or one no caller holds.
    Unknown,
    /// A known caller outside its allow-list.
    NotAllowed { caller: String },
}

impl Refusal {
    pub fn message(&self, what: &str) -> String {
        match self {
            Refusal::Unknown => "a valid internal caller credential is required".to_string(),
            Refusal::NotAllowed { caller } => {
                format!("caller {caller} may not call {what} (not in this service's allow-list)")
            }
        }
    }
}

/// One service's view of its internal callers, and its own credential.
#[derive(Clone, Default)]
pub struct Credentials {
    known: Arc<Vec<(String, [u8; 32])>>,
    legacy: Option<[u8; 32]>,
    grants: &'static [Grant],
    own: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Caller names only: never a token or a digest.
        let names: Vec<&str> = self.known.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Credentials")
            .field("callers", &names)
            .finish_non_exhaustive()
    }
}

pub(crate) fn sha256(v: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, v);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn valid_caller(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The digests in `dir`: one file per caller.
fn read_dir(dir: &Path) -> anyhow::Result<Vec<(String, [u8; 32])>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("FLEET_INTERNAL_CALLERS_DIR: cannot read {}", dir.display()))?;
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !e.path().is_file() {
            continue;
        }
        anyhow::ensure!(
            valid_caller(&name),
            "FLEET_INTERNAL_CALLERS_DIR: {name:?} is not a caller name (lower-case letters, digits, '-')"
        );
        let text = std::fs::read_to_string(e.path())
            .with_context(|| format!("reading {}", e.path().display()))?;
        let digest = parse_digest(&text).with_context(|| {
            format!(
                "{}: expected the hex SHA-256 of {name}'s token (64 characters), not the token",
                e.path().display()
            )
        })?;
        out.push((name, digest));
    }
    out.sort();
    Ok(out)
}

/// A development credential for `caller`, generated once into the state directory.
pub fn dev_credential(config: &FleetConfig, caller: &str) -> anyhow::Result<String> {
    let bytes = config.dev_secret(&format!("internal-credential-{caller}"), || {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("random: {e}"))?;
        Ok(raw
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes())
    })?;
    let text = String::from_utf8(bytes).context("a development credential is not text")?;
    Ok(text.trim().to_string())
}

/// A token from a file: trimmed, at least 32 characters.
fn read_token(var: &str, path: &str) -> anyhow::Result<String> {
    let t = std::fs::read_to_string(path)
        .with_context(|| format!("{var}: cannot read {path}"))?
        .trim()
        .to_string();
    anyhow::ensure!(
        t.len() >= 32,
        "{var}: the credential must be at least 32 characters"
    );
    Ok(t)
}

impl Credentials {
    /// `service`'s callers and own credential from configuration; `single` when this process
    /// serves only it (then `FLEET_INTERNAL_CREDENTIAL_FILE` applies).
    pub fn load(
        config: &FleetConfig,
        service: &str,
        grants: &'static [Grant],
        single: bool,
    ) -> anyhow::Result<Self> {
        let known = match &config.internal_credentials_dir {
            Some(dir) => read_dir(dir)?,
            None if config.is_dev() => {
                let mut v = Vec::new();
                for g in grants {
                    let t = dev_credential(config, g.caller)?;
                    v.push((g.caller.to_string(), sha256(t.as_bytes())));
                }
                v
            }
            None => Vec::new(),
        };
        let legacy = config
            .internal_token
            .as_deref()
            .filter(|_| config.is_dev())
            .map(|t| sha256(t.as_bytes()));
        let prefix = service.to_ascii_uppercase().replace('-', "_");
        let specific = format!("{prefix}_INTERNAL_CREDENTIAL_FILE");
        let own = match (
            config.get(&specific),
            config.get("FLEET_INTERNAL_CREDENTIAL_FILE"),
        ) {
            (Some(p), _) => Some(read_token(&specific, p)?),
            (None, Some(p)) if single => Some(read_token("FLEET_INTERNAL_CREDENTIAL_FILE", p)?),
            _ if config.is_dev() => match &config.internal_token {
                Some(t) => Some(t.clone()),
                None => Some(dev_credential(config, service)?),
            },
            _ => None,
        };
        Ok(Credentials {
            known: Arc::new(known),
            legacy,
            grants,
            own,
        })
    }

    /// Credentials for tests: `callers` (name, token) and the grants.
    pub fn with_callers(callers: &[(&str, &str)], grants: &'static [Grant]) -> Self {
        Credentials {
            known: Arc::new(
                callers
                    .iter()
                    .map(|(n, t)| (n.to_string(), sha256(t.as_bytes())))
                    .collect(),
            ),
            legacy: None,
            grants,
            own: None,
        }
    }

    /// The token this service presents to its peers.
    pub fn own(&self) -> Option<&str> {
        self.own.as_deref()
    }

    /// The caller presenting `authorization` (the header's value), if any. Every known digest
    /// is compared, in constant time each, whichever matches.
    pub fn caller(&self, authorization: Option<&str>) -> Option<&str> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        if token.is_empty() {
            return None;
        }
        let got = sha256(token.as_bytes());
        let mut found = None;
        for (name, want) in self.known.iter() {
            if same(&got, want) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        if let Some(l) = &self.legacy
            && same(&got, l)
            && found.is_none()
        {
            found = Some(DEVELOPMENT);
        }
        found
    }

    /// Whether any known caller (or the development token) matches: the gRPC interceptor's
    /// check, which cannot see the method.
    pub fn admits_any(&self, authorization: Option<&str>) -> bool {
        self.caller(authorization).is_some()
    }

    fn check(
        &self,
        authorization: Option<&str>,
        allowed: impl Fn(&Grant) -> bool,
    ) -> Result<String, Refusal> {
        let caller = self.caller(authorization).ok_or(Refusal::Unknown)?;
        if caller == DEVELOPMENT {
            return Ok(caller.to_string());
        }
        let ok = self.grants.iter().any(|g| g.caller == caller && allowed(g));
        if ok {
            Ok(caller.to_string())
        } else {
            Err(Refusal::NotAllowed {
                caller: caller.to_string(),
            })
        }
    }

    /// The caller of gRPC method `path` (`/pkg.Service/Method`), or why not.
    pub fn check_grpc(&self, authorization: Option<&str>, path: &str) -> Result<String, Refusal> {
        self.check(authorization, |g| g.grpc.contains(&path))
    }

    /// The caller of the internal route `METHOD /route/{param}`, or why not.
    pub fn check_http(
        &self,
        authorization: Option<&str>,
        method: &str,
        route: &str,
    ) -> Result<String, Refusal> {
        self.check(authorization, |g| {
            g.http.iter().any(|r| {
                r.split_once(' ')
                    .is_some_and(|(m, p)| m.eq_ignore_ascii_case(method) && p == route)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static GRANTS: &[Grant] = &[
        Grant::grpc(
            "human-agent",
            &["/workflow.org_auth.v1.OrgAuth/CreateAgentUser"],
        ),
        Grant::http("kong", &["GET /api/v1/agents/{agent_id}/permissions"]),
    ];
    const HA: &str = "human-agent-token-0123456789abcdef0123456789";
    const KONG_TOKEN: &str = "kong-token-0123456789abcdef0123456789abcdef";

    #[test]
    fn a_caller_is_admitted_only_to_what_its_grant_lists() {
        let c = Credentials::with_callers(&[("human-agent", HA), ("kong", KONG_TOKEN)], GRANTS);
        let ha = format!("Bearer {HA}");
        let kong = format!("Bearer {KONG_TOKEN}");
        assert_eq!(
            c.check_grpc(Some(&ha), "/workflow.org_auth.v1.OrgAuth/CreateAgentUser"),
            Ok("human-agent".to_string())
        );
        assert_eq!(
            c.check_grpc(Some(&ha), "/workflow.org_auth.v1.OrgAuth/ListMembers"),
            Err(Refusal::NotAllowed {
                caller: "human-agent".into()
            })
        );
        assert!(
            c.check_grpc(Some(&kong), "/workflow.org_auth.v1.OrgAuth/CreateAgentUser")
                .is_err()
        );
        assert_eq!(
            c.check_http(Some(&kong), "GET", "/api/v1/agents/{agent_id}/permissions"),
            Ok("kong".to_string())
        );
        assert!(
            c.check_http(Some(&ha), "GET", "/api/v1/agents/{agent_id}/permissions")
                .is_err()
        );
        assert!(
            c.check_http(Some(&kong), "POST", "/api/v1/agents/{agent_id}/permissions")
                .is_err()
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer "),
            Some("Bearer nope"),
            Some(HA),
        ] {
            assert_eq!(c.check_grpc(bad, "/x/y"), Err(Refusal::Unknown), "{bad:?}");
        }
    }

    #[test]
    fn a_credentials_directory_holds_digests_not_tokens() {
        let dir = std::env::temp_dir().join(format!("creds-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let digest: String = sha256(HA.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(dir.join("human-agent"), format!("{digest}\n")).expect("write");
        std::fs::write(dir.join("..data"), "ignored").expect("write");
        let got = read_dir(&dir).expect("read");
        assert_eq!(
            got,
            vec![("human-agent".to_string(), sha256(HA.as_bytes()))]
        );
        std::fs::write(dir.join("kong"), KONG_TOKEN).expect("write");
        let err = read_dir(&dir).expect_err("a raw token is refused");
        assert!(err.to_string().contains("not the token"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
