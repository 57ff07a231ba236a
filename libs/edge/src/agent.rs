//! The `agent-permissions` plugin, as deploy/kong/plugins/agent-permissions/handler.lua does
//! it: strip client-sent `X-Agent-*` and the subject header; set the rate-limit subject; for
//! agents look the permissions up at human-agent (cached `cache_ttl` seconds, failures not
//! cached) and refuse what the route's `required_permission` does not allow; then sign what
//! reaches the service ([`sign`]).
use std::{sync::Arc, time::Duration};

use http::HeaderMap;
use serde_json::Value;

use crate::{config::AgentPermConf, ttl::TtlMap};

/// What the lookup answered, as cached.
#[derive(Clone)]
enum Lookup {
    Found {
        permissions: Value,
        roles: Vec<String>,
        status: Option<String>,
    },
    Unknown,
}

pub struct Checker {
    http: reqwest::Client,
    cache: TtlMap<Arc<Lookup>>,
}

/// The plugin's decision.
pub enum Decision {
    /// Proceed; headers to set on the upstream request.
    Proceed(Vec<(String, String)>),
    Deny(u16, &'static str, String),
}

/// The rate-limiting subject of verified claims: the tenant for clients, the agent for agents,
/// the user otherwise.
pub fn subject_for(claims: &Value) -> Option<String> {
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let agent = claims.get("user_type").and_then(Value::as_str) == Some("agent");
    if !agent && let Some(o) = s("organization_id") {
        return Some(format!("org:{o}"));
    }
    if agent && let Some(a) = s("agent_id") {
        return Some(format!("agent:{a}"));
    }
    s("user_id").map(|u| format!("user:{u}"))
}

/// Header names removed before proxying: every `X-Agent-*`, every `X-Fleet-Edge-*` (only the
/// edge signs) and the subject header.
pub fn strip(headers: &mut HeaderMap, subject_header: Option<&str>) {
    let names: Vec<_> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-agent-") || n.as_str().starts_with("x-fleet-edge-"))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
    if let Some(h) = subject_header {
        headers.remove(h);
    }
}

fn valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            http: reqwest::Client::new(),
            cache: TtlMap::new(10_000),
        }
    }

    async fn fetch(&self, url: &str, conf: &AgentPermConf, token: &str) -> Result<Lookup, String> {
        let res = self
            .http
            .get(url)
            .bearer_auth(token)
            .header("X-Internal-Service", "kong")
            .header("Accept", "application/json")
            .timeout(Duration::from_millis(conf.timeout_ms))
            .send()
            .await
            .map_err(|e| format!("permissions lookup failed: {e}"))?;
        match res.status().as_u16() {
            404 => Ok(Lookup::Unknown),
            200 => {
                let doc: Value = res
                    .json()
                    .await
                    .map_err(|e| format!("permissions lookup body: {e}"))?;
                let permissions = doc.get("permissions").filter(|p| p.is_object()).cloned();
                let permissions =
                    permissions.ok_or("permissions lookup answer has no 'permissions' object")?;
                let mut roles: Vec<String> = doc
                    .get("all_roles")
                    .or_else(|| doc.get("roles"))
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(p) = doc.get("primary_role").and_then(Value::as_str) {
                    roles.push(p.to_string());
                }
                Ok(Lookup::Found {
                    permissions,
                    roles,
                    status: doc.get("status").and_then(Value::as_str).map(String::from),
                })
            }
            s => Err(format!("permissions lookup answered HTTP {s}")),
        }
    }

    /// `claims` are those of a token the jwt plugin verified, if any. `url` is the lookup URL
    /// template with its host mapped to the local service; `token` the service credential.
    pub async fn decide(
        &self,
        conf: &AgentPermConf,
        claims: Option<&Value>,
        url: &str,
        token: &str,
    ) -> Decision {
        let required = conf
            .required_permission
            .as_deref()
            .and_then(|p| p.split_once('.'));
        let Some(claims) = claims else {
            if required.is_some() {
                return Decision::Deny(
                    401,
                    "Unauthorized",
                    "This endpoint needs an authenticated agent.".into(),
                );
            }
            return Decision::Proceed(Vec::new());
        };
        let mut set = Vec::new();
        if let (Some(h), Some(subject)) = (&conf.subject_header, subject_for(claims)) {
            set.push((h.to_ascii_lowercase(), subject));
        }
        if claims.get("user_type").and_then(Value::as_str) != Some("agent") {
            if required.is_some() {
                return Decision::Deny(
                    403,
                    "Forbidden",
                    "This endpoint is for platform agents only.".into(),
                );
            }
            return Decision::Proceed(set);
        }
        let agent_id = claims
            .get("agent_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !valid_agent_id(agent_id) {
            return Decision::Deny(
                403,
                "Forbidden",
                "The token's agent_id is missing or malformed.".into(),
            );
        }
        let url = url.replace("{agent_id}", agent_id);
        let key = format!("{}:{agent_id}", conf.permissions_url);
        let lookup = match self.cache.get(&key) {
            Some(l) => l,
            None => match self.fetch(&url, conf, token).await {
                Ok(l) => {
                    let l = Arc::new(l);
                    self.cache
                        .insert(key, l.clone(), Duration::from_secs(conf.cache_ttl));
                    l
                }
                Err(e) => {
                    tracing::error!(agent = agent_id, error = %e, "agent permissions unavailable");
                    return Decision::Deny(
                        503,
                        "Service Unavailable",
                        "Agent permissions could not be checked; try again.".into(),
                    );
                }
            },
        };
        let Lookup::Found {
            permissions,
            roles,
            status,
        } = &*lookup
        else {
            return Decision::Deny(403, "Forbidden", "Unknown agent.".into());
        };
        if let Some(s) = status.as_deref().filter(|s| *s != "active") {
            return Decision::Deny(403, "Forbidden", format!("The agent is {s}."));
        }
        if let Some((service, action)) = required {
            let has = permissions
                .get(service)
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == action));
            let bypass = roles.iter().any(|r| conf.bypass_roles.contains(r));
            if !has && !bypass {
                return Decision::Deny(
                    403,
                    "Forbidden",
                    format!(
                        "Missing permission {}.",
                        conf.required_permission.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
        let encoded = if permissions.as_object().is_some_and(|o| o.is_empty()) {
            "{}".to_string()
        } else {
            permissions.to_string()
        };
        set.push(("x-agent-id".into(), agent_id.to_string()));
        set.push(("x-agent-permissions".into(), encoded));
        Decision::Proceed(set)
    }
}

/// The upstream's `X-Forwarded-For`, as Kong's runloop makes it before the plugins run: the
/// client's value with the connecting address appended, or that address alone.
pub fn forwarded_for(headers: &HeaderMap, client_ip: &str) -> String {
    match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {client_ip}"),
        None => client_ip.to_string(),
    }
}

/// Adds `X-Fleet-Edge-Time` and `X-Fleet-Edge-Signature` over the request as the upstream
/// receives it (method, path, `Authorization`, `X-Agent-ID`, `X-Agent-Permissions`, the
/// `X-Forwarded-For` the proxy will send): the plugin's last step, as handler.lua does it.
pub fn sign(
    key: &kit::auth::EdgeKey,
    method: &str,
    path: &str,
    headers: &mut HeaderMap,
    forwarded: &str,
    now: i64,
) {
    use kit::auth::edge;
    let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let signature = key.sign(&edge::Signed {
        method,
        path,
        authorization: text("authorization"),
        agent_id: text(edge::AGENT_ID_HEADER),
        permissions: text(edge::AGENT_PERMISSIONS_HEADER),
        forwarded_for: Some(forwarded),
        time: now,
    });
    crate::set(headers, edge::TIME_HEADER, &now.to_string());
    crate::set(headers, edge::SIGNATURE_HEADER, &signature);
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_gateway_signs_the_services_verify() {
        let key = kit::auth::EdgeKey::new(b"gateway-signing-test-key-0123456789").expect("key");
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer t".parse().expect("header"));
        h.insert("x-agent-id", "a-1".parse().expect("header"));
        h.insert("x-forwarded-for", "192.0.2.1".parse().expect("header"));
        let forwarded = forwarded_for(&h, "198.51.100.7");
        assert_eq!(forwarded, "192.0.2.1, 198.51.100.7");
        sign(&key, "GET", "/api/v1/x", &mut h, &forwarded, 1_000);
        // The proxy then sends the same X-Forwarded-For.
        crate::set(&mut h, "x-forwarded-for", &forwarded);
        let got = key.verify("GET", "/api/v1/x", &h, 1_030).expect("verifies");
        assert_eq!(got.client_ip(), Some("198.51.100.7".parse().expect("ip")));
        assert_eq!(got.agent_id.as_deref(), Some("a-1"));
        // A client's own signature headers are stripped before the edge signs.
        strip(&mut h, None);
        assert!(h.get(kit::auth::edge::SIGNATURE_HEADER).is_none());
        assert!(h.get("x-agent-id").is_none());
    }
}
