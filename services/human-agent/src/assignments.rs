//! Client assignment: manual or automatic on request, and from `assisted_account_created` (the
//! client goes to the agent who created the account, or the best available sales agent).
use axum::{extract::State, http::StatusCode};
use kit::{
    Json, Problem,
    auth::Principal,
    contracts::events::{Event, v1},
    events::{Envelope, Handler, HandlerError},
    input::OptText,
    store::{Scope, Tx},
    uow::Work as _,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    activity::Entry,
    problems,
    routing::{self, Assigned},
    rules::{AssignmentKind, AssignmentType, ClientRole, Role, Skills, SmallObject, Urgency},
    state::AppState,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_assignment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    pub client_id: Uuid,
    pub organization_id: Uuid,
    /// A client-facing role.
    #[schema(value_type = Role)]
    pub role_type: ClientRole,
    /// `auto` (default) or `manual` (with `agent_id`).
    #[serde(default)]
    pub assignment_type: Option<AssignmentType>,
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub required_skills: Skills,
    #[serde(default)]
    pub language: Option<String>,
    /// At most 200 characters, e.g. `new_assisted_signup`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub assignment_reason: OptText<200>,
    /// `low`, `normal` (default), `high` or `urgent`.
    #[serde(default)]
    pub priority: Option<Urgency>,
    /// What the agent is told about the client (an object of at most 10 kB), e.g.
    /// `{"company_name": "Teddy Corp", "industry": "e-commerce", "notes": "…"}`; kept with the
    /// assignment (its `company_name` names the client in workloads and timelines).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<SmallObject>,
}

impl AssignmentRequest {
    /// The agent a manual assignment names; `None` for an automatic one.
    fn named_agent(&self) -> Result<Option<Uuid>, Problem> {
        match self.assignment_type.unwrap_or_default() {
            AssignmentType::Auto => Ok(None),
            AssignmentType::Manual => self
                .agent_id
                .map(Some)
                .ok_or_else(|| Problem::invalid("agent_id", "is required for a manual assignment")),
        }
    }

    fn routing<'a>(
        &'a self,
        named: Option<Uuid>,
        online: Option<&'a [Uuid]>,
    ) -> routing::Request<'a> {
        routing::Request {
            organization_id: self.organization_id,
            client_id: self.client_id,
            role: self.role_type.0,
            skills: self.required_skills.as_slice(),
            language: self.language.as_deref(),
            kind: match named {
                Some(_) => AssignmentKind::Manual,
                None => AssignmentKind::Auto,
            },
            source_event: None,
            online,
            priority: self.priority.unwrap_or_default(),
            context: self.context.as_ref().map(SmallObject::as_value),
            reason: self.assignment_reason.as_deref(),
            expected_completion: None,
        }
    }
}

/// Why no assignment was made.
fn unassigned(named: Option<Uuid>) -> Problem {
    match named {
        Some(_) => problems::AGENT_AT_CAPACITY
            .with("that agent cannot take the client (role, capacity or inactive)"),
        None => problems::NO_AGENT_AVAILABLE
            .with("no agent with the role, skills and free capacity is online"),
    }
}

/// Assign a client to an agent, manually or automatically (platform admins and agents holding
/// `client_management.update`). Publishes `client_assigned_to_agent`.
#[utoipa::path(post, path = "/api/v1/agents/assignments", tag = "assignments", security(("bearer" = [])),
    request_body = AssignmentRequest,
    responses((status = 201, body = Assigned), (status = 409, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
pub async fn create_assignment(
    State(s): State<AppState>,
    p: Principal,
    Json(req): Json<AssignmentRequest>,
) -> Result<(StatusCode, Json<Assigned>), Problem> {
    let me = p.require_agent()?;
    p.require_permission("client_management", "update")?;
    let (org, named) = (req.organization_id, req.named_agent()?);
    let online = s.presence.online().await;
    let r = req.routing(named, online.as_deref());
    // The agent acts in the client's organisation: that is the unit's context, not the token's.
    let mut uow = s.db.begin(Scope::agent(Some(org))).await?.by(&p);
    let done = routing::assign(&mut uow, named, &r)
        .await?
        .ok_or_else(|| unassigned(named))?;
    let details = json!({"assignment_id": done.assignment_id, "reason": req.assignment_reason, "priority": done.priority});
    uow.audit(Entry::new(me, "assignment_created", details).org(org))
        .await?;
    uow.commit().await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// `assisted_account_created` → the client goes to the agent who created the account, or, if
/// it cannot take it, to the best available sales agent. The consumer runner makes this
/// exactly-once per event.
pub struct AssistedAccounts(pub AppState);

#[async_trait::async_trait]
impl Handler for AssistedAccounts {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.event_type != v1::AssistedAccountCreated::EVENT_TYPE {
            return Ok(()); // other auth events are not ours
        }
        let e: v1::AssistedAccountCreated = event.decode()?;
        let parse = |v: &str| v.parse::<Uuid>().map_err(HandlerError::failed);
        let (org, client) = (parse(&e.organization_id)?, parse(&e.user_id)?);
        let creator = e.created_by_agent_id.parse::<Uuid>().ok();
        // Agents' profiles are staff data: the service's own scope for the whole effect.
        let mut w = self.0.db.within(tx, Scope::system()).await?;
        let online = self.0.presence.online().await;
        let r = routing::Request {
            source_event: event.event_id.parse().ok(),
            online: online.as_deref(),
            ..routing::Request::named(org, client, Role::SalesAgent, AssignmentKind::Auto)
        };
        let failed = |p: Problem| HandlerError::failed(p.detail());
        let mut done = match creator {
            Some(a) => routing::assign_to(&mut w, a, &r, false)
                .await
                .map_err(failed)?,
            None => None,
        };
        if done.is_none() {
            let except: Vec<Uuid> = creator.into_iter().collect();
            done = routing::assign_best(&mut w, &r, &except)
                .await
                .map_err(failed)?;
        }
        if done.is_none() {
            tracing::warn!(client = %client, "no sales agent can take the assisted client yet");
            if let Some(a) = creator {
                let entry = Entry::new(a, "assignment_unfilled", json!({"client_id": client}));
                w.audit(entry.org(org)).await.map_err(failed)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::testing::{body, body_refusal};

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut b = json!({"client_id": Uuid::nil(), "organization_id": Uuid::nil(), "role_type": "sales_agent"});
        b[field] = value;
        b
    }

    #[tokio::test]
    async fn a_bad_assignment_is_refused_naming_the_field_as_before() {
        let refused = |f: &str, v| body_refusal::<AssignmentRequest>(with(f, v));
        assert_eq!(
            refused("role_type", json!("platform_admin")).await,
            "role_type: unknown or non-client-facing role"
        );
        assert_eq!(
            refused("assignment_type", json!("random")).await,
            "assignment_type: must be auto or manual"
        );
        assert_eq!(
            refused("priority", json!("asap")).await,
            "priority: must be low, normal, high or urgent"
        );
        assert_eq!(
            refused("context", json!("Teddy Corp")).await,
            "context: must be an object (at most 10 kB)"
        );
        let manual: AssignmentRequest = body(with("assignment_type", json!("manual"))).await;
        let refusal = manual.named_agent().expect_err("no agent named");
        assert_eq!(
            refusal.detail(),
            "agent_id: is required for a manual assignment"
        );
        let auto: AssignmentRequest = body(with("agent_id", json!(Uuid::nil()))).await;
        assert_eq!(
            auto.named_agent().expect("auto"),
            None,
            "an automatic one names nobody"
        );
    }
}
