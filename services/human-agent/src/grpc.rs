//! human-agent's internal gRPC API (`workflow.human_agent.v1.HumanAgent`).
use kit::{
    contracts::workflow::human_agent::v1::{
        Agent, AssignRequest, Assignment, GetAgentRequest, Permissions,
        human_agent_server::HumanAgent,
    },
    grpc::status,
    store::{self, Scope},
    tonic::{self, Request, Response, Status},
};
use uuid::Uuid;

use crate::{AppState, agents, assign};

pub struct Api(pub AppState);

fn id(field: &str, v: &str) -> Result<Uuid, Status> {
    v.parse()
        .map_err(|_| Status::invalid_argument(format!("{field} must be a UUID")))
}

#[tonic::async_trait]
impl HumanAgent for Api {
    async fn get_agent(&self, req: Request<GetAgentRequest>) -> Result<Response<Agent>, Status> {
        let agent = id("agent_id", &req.get_ref().agent_id)?;
        let mut tx = store::begin(&self.0.db, Scope::system())
            .await
            .map_err(|e| status(&e.into()))?;
        let a = agents::load(&mut tx, agent).await.map_err(|p| status(&p))?;
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
            status: a.status,
            is_active: a.is_active,
        }))
    }

    async fn get_permissions(
        &self,
        req: Request<GetAgentRequest>,
    ) -> Result<Response<Permissions>, Status> {
        let agent = id("agent_id", &req.get_ref().agent_id)?;
        let mut tx = store::begin(&self.0.db, Scope::system())
            .await
            .map_err(|e| status(&e.into()))?;
        let a = agents::load(&mut tx, agent).await.map_err(|p| status(&p))?;
        let perms = if a.is_active {
            a.permissions
        } else {
            serde_json::json!({})
        };
        Ok(Response::new(Permissions {
            agent_id: a.agent_id.to_string(),
            is_active: a.is_active,
            permissions_json: perms.to_string(),
        }))
    }

    async fn assign(&self, req: Request<AssignRequest>) -> Result<Response<Assignment>, Status> {
        let r = req.into_inner();
        let org = id("organization_id", &r.organization_id)?;
        let client = id("client_id", &r.client_id)?;
        if !agents::ROLES.contains(&r.role_type.as_str()) || r.role_type == "platform_admin" {
            return Err(Status::invalid_argument(
                "unknown or non-client-facing role_type",
            ));
        }
        let skills: Vec<String> = r
            .required_skills
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        let manual = (!r.agent_id.is_empty())
            .then(|| id("agent_id", &r.agent_id))
            .transpose()?;
        let online = self.0.presence.online().await;
        let request = assign::Request {
            organization_id: org,
            client_id: client,
            role: &r.role_type,
            skills: &skills,
            language: (!r.language.is_empty()).then_some(r.language.as_str()),
            kind: if manual.is_some() { "manual" } else { "auto" },
            source_event: None,
            online: online.as_deref(),
        };
        let mut tx = store::begin(&self.0.db, Scope::system())
            .await
            .map_err(|e| status(&e.into()))?;
        let done = match manual {
            Some(a) => assign::try_agent(&mut tx, a, &request, false).await,
            None => assign::auto(&mut tx, &request, &[]).await,
        }
        .map_err(|p| status(&p))?
        .ok_or_else(|| Status::resource_exhausted("no agent can take the client now"))?;
        tx.commit().await.map_err(|e| status(&e.into()))?;
        Ok(Response::new(Assignment {
            assignment_id: done.assignment_id.to_string(),
            agent_id: done.agent_id.to_string(),
            role_type: done.role_type,
            lifecycle_stage: done.lifecycle_stage,
            first_contact_deadline: done.sla.first_contact_deadline,
        }))
    }
}
