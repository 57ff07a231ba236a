use std::collections::BTreeMap;

use axum::{extract::FromRequestParts, http::request::Parts};
use problem::Problem;
use uuid::Uuid;

use crate::{Claims, UserType, Verifier, edge::Attested};

/// An agent's permissions: service → actions, e.g. `{"assisted_signup": ["create", "read"]}`.
pub type Permissions = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq)]
pub struct AgentInfo {
    pub agent_id: Uuid,
    pub primary_role: Option<String>,
    pub all_roles: Vec<String>,
    pub permissions: Permissions,
}

/// Who a request acts as: a client user of one organisation, or a platform human agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: Uuid,
    pub user_type: UserType,
    pub organization_id: Option<Uuid>,
    pub role: String,
    pub email: Option<String>,
    pub agent: Option<AgentInfo>,
    pub scope: Option<String>,
    /// The user actually acting when the token is delegated (a temporary access token: the
    /// agent behind it). Audit entries name this user as the actor.
    pub act: Option<Uuid>,
    /// The session the token belongs to.
    pub session: Option<Uuid>,
}

/// How the specification writes a temporary access token: this prefix and the JWT.
pub const TEMPORARY_PREFIX: &str = "temp_";

impl Principal {
    /// Builds the principal from verified claims and what the edge attested. `X-Agent-ID` and
    /// `X-Agent-Permissions` count only when the edge's signature over them verified
    /// ([`Attested`], installed by the kit's middleware) and they name the token's own agent;
    /// otherwise the token's permissions stand. The signature also binds the `Authorization`
    /// header, so attested permissions cannot be moved onto another token.
    pub fn from_claims(claims: Claims, attested: Option<&Attested>) -> Self {
        let agent = match (claims.user_type, claims.agent_id) {
            (UserType::Agent, Some(agent_id)) => {
                let from_gateway = attested
                    .filter(|a| {
                        a.agent_id.as_deref().and_then(|v| v.parse::<Uuid>().ok()) == Some(agent_id)
                    })
                    .and_then(|a| a.permissions.as_deref())
                    .and_then(|v| serde_json::from_str::<Permissions>(v).ok());
                Some(AgentInfo {
                    agent_id,
                    primary_role: claims.primary_role,
                    all_roles: claims.all_roles,
                    permissions: from_gateway.unwrap_or(claims.permissions),
                })
            }
            _ => None,
        };
        Principal {
            user_id: claims.user_id,
            user_type: claims.user_type,
            organization_id: claims.organization_id,
            role: claims.role,
            email: claims.email,
            agent,
            scope: claims.scope,
            act: claims.act,
            session: claims.sid,
        }
    }

    /// Whether the token lets someone else act as this user (a temporary access token).
    pub fn is_delegated(&self) -> bool {
        self.act.is_some()
    }

    /// 403 for a delegated token: what only the user themselves may do (their credentials,
    /// their sessions, who belongs to their organisation).
    pub fn require_own_token(&self) -> Result<(), Problem> {
        if self.is_delegated() {
            Err(Problem::forbidden(
                "a temporary access token cannot do this: only the account's own user can",
            ))
        } else {
            Ok(())
        }
    }

    pub fn is_agent(&self) -> bool {
        self.agent.is_some()
    }

    /// Platform admins are agents whose role (or one of whose roles) is `platform_admin`.
    pub fn is_platform_admin(&self) -> bool {
        self.agent.as_ref().is_some_and(|a| {
            self.role == "platform_admin" || a.all_roles.iter().any(|r| r == "platform_admin")
        })
    }

    /// Whether an agent holds `service.action`. Platform admins hold everything.
    pub fn has_permission(&self, service: &str, action: &str) -> bool {
        if self.is_platform_admin() {
            return true;
        }
        self.agent.as_ref().is_some_and(|a| {
            a.permissions
                .get(service)
                .is_some_and(|acts| acts.iter().any(|x| x == action))
        })
    }

    /// 403 unless [`has_permission`](Self::has_permission).
    pub fn require_permission(&self, service: &str, action: &str) -> Result<(), Problem> {
        if self.has_permission(service, action) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "missing permission {service}.{action}"
            )))
        }
    }

    /// The agent id of a human agent; 403 for anyone else.
    pub fn require_agent(&self) -> Result<Uuid, Problem> {
        self.agent
            .as_ref()
            .map(|a| a.agent_id)
            .ok_or_else(|| Problem::forbidden("for platform agents"))
    }

    /// The organisation of a client user; agents have none unless acting in one.
    pub fn require_org(&self) -> Result<Uuid, Problem> {
        self.organization_id
            .ok_or_else(|| Problem::forbidden("this endpoint needs an organisation context"))
    }
}

fn bearer(parts: &Parts) -> Result<&str, Problem> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("missing bearer token"))?
        .to_str()
        .map_err(|_| Problem::unauthorized("malformed authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| Problem::unauthorized("malformed authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Problem::unauthorized("expected a bearer token"));
    }
    // A temporary access token may arrive as the specification shows it, `temp_` + the JWT.
    let token = token.trim();
    Ok(token.strip_prefix(TEMPORARY_PREFIX).unwrap_or(token))
}

fn verifier(parts: &Parts) -> Result<Verifier, Problem> {
    parts
        .extensions
        .get::<Verifier>()
        .cloned()
        .ok_or_else(|| Problem::internal("no token verifier installed on this router"))
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let claims = verifier(parts)?.verify(token).await?;
        Ok(Principal::from_claims(
            claims,
            parts.extensions.get::<Attested>(),
        ))
    }
}

/// A principal when a valid bearer token is present; `None` when no token was sent. A token
/// that is present but invalid is still refused.
#[derive(Debug, Clone)]
pub struct OptionalPrincipal(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalPrincipal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Ok(OptionalPrincipal(None));
        }
        Principal::from_request_parts(parts, s)
            .await
            .map(|p| OptionalPrincipal(Some(p)))
    }
}
