//! human-agent's internal gRPC API (`workflow.human_agent.v1.HumanAgent`).
use kit::{
    contracts::workflow::human_agent::v1::{
        Agent, AssignRequest, Assignment, Capacity, GetAgentRequest, Permissions,
        human_agent_server::HumanAgent,
    },
    tonic::{self, Request, Response, Status},
};
use uuid::Uuid;

use crate::{
    roster, routing,
    rules::{AssignmentKind, ClientRole, Skills},
    state::AppState,
};

/// Peers are internal callers (the service credential), without a principal: every call works in
/// the service's own scope.
pub struct Api(pub AppState);

fn id(field: &str, v: &str) -> Result<Uuid, Status> {
    v.parse()
        .map_err(|_| Status::invalid_argument(format!("{field} must be a UUID")))
}

#[tonic::async_trait]
impl HumanAgent for Api {
    async fn get_agent(&self, req: Request<GetAgentRequest>) -> Result<Response<Agent>, Status> {
        let agent = id("agent_id", &req.get_ref().agent_id)?;
        let mut uow = self.0.db.system().await?;
        let a = roster::load(&mut uow, agent).await?;
        Ok(Response::new(Agent {
            agent_id: a.agent_id.to_string(),
            user_id: a.user_id.to_string(),
            email: a.email,
            full_name: a.full_name,
            primary_role: a.primary_role,
            roles: a.roles,
            skills: a.skills,
            languages: a.languages,
            max_capacity: a.max_capacity,
            status: a.status.to_string(),
            is_active: a.is_active,
        }))
    }

    async fn get_permissions(
        &self,
        req: Request<GetAgentRequest>,
    ) -> Result<Response<Permissions>, Status> {
        let agent = id("agent_id", &req.get_ref().agent_id)?;
        let mut uow = self.0.db.system().await?;
        // What the HTTP lookup answers: a platform admin holds everything, a deactivated agent
        // nothing.
        let a = roster::access(&mut uow, agent).await?;
        let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(Response::new(Permissions {
            agent_id: a.agent_id.to_string(),
            user_id: a.user_id.to_string(),
            is_active: a.is_active,
            status: a.account_status().to_string(),
            availability: a.status.to_string(),
            permissions_json: a.effective_permissions().to_string(),
            primary_role: a.primary_role.clone(),
            capacity: Some(Capacity {
                max_concurrent_clients: a.max_capacity,
                current_workload: count(a.current_workload),
                available_capacity: count(a.available_capacity()),
            }),
            all_roles: a.roles,
        }))
    }

    async fn assign(&self, req: Request<AssignRequest>) -> Result<Response<Assignment>, Status> {
        let r = req.into_inner();
        let org = id("organization_id", &r.organization_id)?;
        let client = id("client_id", &r.client_id)?;
        let role = ClientRole::parse(&r.role_type)
            .ok_or_else(|| Status::invalid_argument("unknown or non-client-facing role_type"))?;
        let skills = Skills::from_raw(&r.required_skills);
        let named = (!r.agent_id.is_empty())
            .then(|| id("agent_id", &r.agent_id))
            .transpose()?;
        let online = self.0.presence.online().await;
        let kind = match named {
            Some(_) => AssignmentKind::Manual,
            None => AssignmentKind::Auto,
        };
        let request = routing::Request {
            skills: skills.as_slice(),
            language: (!r.language.is_empty()).then_some(r.language.as_str()),
            online: online.as_deref(),
            ..routing::Request::named(org, client, role.0, kind)
        };
        let mut uow = self.0.db.system().await?;
        let done = routing::assign(&mut uow, named, &request)
            .await?
            .ok_or_else(|| Status::resource_exhausted("no agent can take the client now"))?;
        uow.commit().await?;
        Ok(Response::new(Assignment {
            assignment_id: done.assignment_id.to_string(),
            agent_id: done.agent_id.to_string(),
            role_type: done.role_type.to_string(),
            lifecycle_stage: done.lifecycle_stage.to_string(),
            first_contact_deadline: done.sla.first_contact_deadline.rfc3339(),
        }))
    }
}
