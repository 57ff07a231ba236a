//! A service's own part of Redis: every key it writes starts with `<namespace><service>:`.
//!
//! In a cluster each service connects as a Redis ACL user of its own that may touch only
//! `~<service>:*` (the chart renders the users), so one service cannot write another's keys —
//! the cached permissions answer the edge trusts is human-agent's alone. The namespace
//! (`FLEET_RATE_LIMIT_NAMESPACE`, empty in a cluster) keeps fleets and tests that share one
//! Redis apart.

/// The prefix of one service's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    prefix: String,
}

impl KeySpace {
    /// The keys of `service` under `namespace` (`""` in a cluster, `t_<id>:` in a test).
    pub fn new(namespace: &str, service: &str) -> Self {
        KeySpace {
            prefix: format!("{namespace}{service}:"),
        }
    }

    /// `<namespace><service>:<suffix>`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// The prefix itself, ending in `:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis ACL key pattern of this space (`~<prefix>*`).
    pub fn acl_pattern(&self) -> String {
        format!("~{}*", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::KeySpace;

    #[test]
    fn keys_start_with_the_namespace_and_the_service() {
        let k = KeySpace::new("t_1:", "org-auth");
        assert_eq!(k.key("rl:login"), "t_1:org-auth:rl:login");
        assert_eq!(k.acl_pattern(), "~t_1:org-auth:*");
        assert_eq!(KeySpace::new("", "human-agent").prefix(), "human-agent:");
    }
}
