//! org-auth's internal gRPC API (`workflow.org_auth.v1.OrgAuth`).
use kit::{
    contracts::workflow::org_auth::v1::{
        CheckMembershipRequest, CheckMembershipResponse, CreateAgentUserRequest,
        CreateAgentUserResponse, GetOrganizationRequest, GetUserRequest, ListMembersRequest,
        ListMembersResponse, Member, Organization, User, org_auth_server::OrgAuth,
    },
    grpc::status,
    store::{self, Scope},
    tonic::{self, Request, Response, Status},
};
use sqlx::Row;
use uuid::Uuid;

use crate::{
    AppState,
    audit::{self, Entry, Origin},
    auth_routes, mail, rfc3339, security, sessions,
};

pub struct Api(pub AppState);

fn id(field: &str, v: &str) -> Result<Uuid, Status> {
    v.parse()
        .map_err(|_| Status::invalid_argument(format!("{field} must be a UUID")))
}

fn db(e: impl Into<kit::Problem>) -> Status {
    status(&e.into())
}

#[tonic::async_trait]
impl OrgAuth for Api {
    async fn get_user(&self, req: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let user = id("user_id", &req.get_ref().user_id)?;
        let mut tx = store::begin(&self.0.db, Scope::system())
            .await
            .map_err(db)?;
        let u = sessions::load_user(&mut tx, user)
            .await
            .map_err(db)?
            .ok_or_else(|| Status::not_found("user not found"))?;
        Ok(Response::new(User {
            user_id: u.id.to_string(),
            email: u.email,
            full_name: u.full_name,
            user_type: u.user_type,
            organization_id: u.organization_id.map(|o| o.to_string()).unwrap_or_default(),
            role: u.role,
            account_status: u.account_status,
            email_verified: u.email_verified,
            agent_id: u.agent_id.map(|a| a.to_string()).unwrap_or_default(),
        }))
    }

    async fn get_organization(
        &self,
        req: Request<GetOrganizationRequest>,
    ) -> Result<Response<Organization>, Status> {
        let org = id("organization_id", &req.get_ref().organization_id)?;
        let mut tx = store::begin(&self.0.db, Scope::system())
            .await
            .map_err(db)?;
        let r = sqlx::query(
            "SELECT id, name, slug, industry, company_size, website, onboarding_status, created_at \
             FROM organizations WHERE id = $1",
        )
        .bind(org)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| Status::not_found("organization not found"))?;
        Ok(Response::new(Organization {
            organization_id: r.get::<Uuid, _>(0).to_string(),
            name: r.get(1),
            slug: r.get(2),
            industry: r.get::<Option<String>, _>(3).unwrap_or_default(),
            company_size: r.get::<Option<String>, _>(4).unwrap_or_default(),
            website: r.get::<Option<String>, _>(5).unwrap_or_default(),
            onboarding_status: r.get(6),
            created_at: rfc3339(r.get(7)),
        }))
    }

    async fn list_members(
        &self,
        req: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let org = id("organization_id", &req.get_ref().organization_id)?;
        // Scoped to the organisation asked about: RLS returns its members only.
        let mut tx = store::tenant_tx(&self.0.db, org).await.map_err(db)?;
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.full_name, m.role, m.permissions::text FROM team_memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 ORDER BY m.created_at",
        )
        .bind(org)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        Ok(Response::new(ListMembersResponse {
            members: rows
                .into_iter()
                .map(|r| Member {
                    user_id: r.get::<Uuid, _>(0).to_string(),
                    email: r.get(1),
                    full_name: r.get(2),
                    role: r.get(3),
                    permissions_json: r.get(4),
                })
                .collect(),
        }))
    }

    async fn check_membership(
        &self,
        req: Request<CheckMembershipRequest>,
    ) -> Result<Response<CheckMembershipResponse>, Status> {
        let org = id("organization_id", &req.get_ref().organization_id)?;
        let user = id("user_id", &req.get_ref().user_id)?;
        let mut tx = store::tenant_tx(&self.0.db, org).await.map_err(db)?;
        let row = sqlx::query(
            "SELECT role, permissions::text FROM team_memberships WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(org)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        Ok(Response::new(match row {
            Some(r) => CheckMembershipResponse {
                member: true,
                role: r.get(0),
                permissions_json: r.get(1),
            },
            None => CheckMembershipResponse::default(),
        }))
    }

    async fn create_agent_user(
        &self,
        req: Request<CreateAgentUserRequest>,
    ) -> Result<Response<CreateAgentUserResponse>, Status> {
        let r = req.into_inner();
        let bad = |p: kit::Problem| status(&p);
        let email = security::normalise_email("email", &r.email).map_err(bad)?;
        let name = security::text("full_name", &r.full_name, 1, 200).map_err(bad)?;
        let agent_id = id("agent_id", &r.agent_id)?;
        let role = security::text("primary_role", &r.primary_role, 2, 64).map_err(bad)?;
        if !role.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(Status::invalid_argument(
                "primary_role must be a role name like sales_agent",
            ));
        }
        let s = &self.0;
        let mut tx = store::begin(&s.db, Scope::system()).await.map_err(db)?;
        if sessions::load_user_by_email(&mut tx, &email)
            .await
            .map_err(db)?
            .is_some()
        {
            return Err(Status::already_exists(
                "an account already exists for this email",
            ));
        }
        let user_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (id, email, full_name, user_type, role, agent_id, email_verified) \
             VALUES ($1, $2, $3, 'agent', $4, $5, false)",
        )
        .bind(user_id)
        .bind(&email)
        .bind(&name)
        .bind(&role)
        .bind(agent_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let link = auth_routes::issue_password_token(&mut tx, s, user_id, "initial")
            .await
            .map_err(bad)?;
        let origin = Origin {
            ip: "internal".into(),
            user_agent: None,
        };
        audit::record(
            &mut tx,
            &origin,
            Entry::new("agent_user_created")
                .user(user_id)
                .meta(serde_json::json!({"agent_id": agent_id, "role": role})),
        )
        .await
        .map_err(bad)?;
        tx.commit().await.map_err(db)?;
        let sent = s.send(mail::password_reset(&email, &link, true)).await;
        Ok(Response::new(CreateAgentUserResponse {
            user_id: user_id.to_string(),
            password_link_sent: sent,
        }))
    }
}
