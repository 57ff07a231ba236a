use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    /// A client organisation's user (role admin, member or viewer).
    Client,
    /// A platform human agent (role platform_admin, sales_agent, …).
    Agent,
}

/// The access token's claims (spec "JWT Token Structure"): the registered claims plus the
/// platform's `user_id`, `user_type`, `organization_id`, `role`, and for agents `agent_id`,
/// `primary_role`, `all_roles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub user_id: Uuid,
    pub user_type: UserType,
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    #[serde(default)]
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_roles: Vec<String>,
    /// Permissions at issue time (agents). The current ones arrive from Kong in
    /// `X-Agent-Permissions` and take precedence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, Vec<String>>,
    /// A narrowed token (e.g. `assisted_access` for temporary access to an assisted account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user actually acting, when a token lets one act as another (RFC 8693 `act`,
    /// reduced to the actor's user id): the agent behind a temporary access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Uuid>,
    /// The session the token belongs to (a sign-in's refresh family, or a delegated grant):
    /// revoking it refuses the token at every verifier before it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

impl Claims {
    /// Claims for a client user of `org` (times and ids are filled in by the signer).
    pub fn client(user_id: Uuid, org: Option<Uuid>, role: impl Into<String>) -> Self {
        Claims {
            iss: String::new(),
            aud: String::new(),
            sub: user_id.to_string(),
            exp: 0,
            nbf: 0,
            iat: 0,
            jti: String::new(),
            user_id,
            user_type: UserType::Client,
            organization_id: org,
            role: role.into(),
            email: None,
            agent_id: None,
            primary_role: None,
            all_roles: Vec::new(),
            permissions: BTreeMap::new(),
            scope: None,
            act: None,
            sid: None,
        }
    }

    /// Claims for a human agent with its roles (the first is the primary role).
    pub fn agent(user_id: Uuid, agent_id: Uuid, roles: &[&str]) -> Self {
        let mut c = Claims::client(user_id, None, roles.first().copied().unwrap_or_default());
        c.user_type = UserType::Agent;
        c.agent_id = Some(agent_id);
        c.primary_role = roles.first().map(|r| r.to_string());
        c.all_roles = roles.iter().map(|r| r.to_string()).collect();
        c
    }
}
