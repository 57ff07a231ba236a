//! org-auth's internal gRPC API (`workflow.org_auth.v1.OrgAuth`). Problems become the gRPC
//! status of the same meaning (`?`, `From<Problem> for Status`).
use kit::{
    Origin, Problem, Timestamp,
    contracts::workflow::org_auth::v1::{
        CheckMembershipRequest, CheckMembershipResponse, CreateAgentUserRequest,
        CreateAgentUserResponse, GetOrganizationRequest, GetUserRequest, ListMembersRequest,
        ListMembersResponse, Member, Organization, User, org_auth_server::OrgAuth,
    },
    input::check_text,
    sqlx::PgConnection,
    store::Scope,
    tonic::{self, Request, Response, Status},
};
use uuid::Uuid;

use crate::{
    AppState,
    accounts::{self, PasswordPurpose},
    audit::Entry,
    mail, problems, rules, sessions,
};

pub struct Api(pub AppState);

fn id(field: &str, v: &str) -> Result<Uuid, Problem> {
    v.parse()
        .map_err(|_| Problem::bad_request(format!("{field} must be a UUID")))
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: Uuid,
    name: String,
    slug: String,
    industry: Option<String>,
    company_size: Option<String>,
    website: Option<String>,
    onboarding_status: String,
    created_at: Timestamp,
}

impl OrganizationRow {
    async fn load(conn: &mut PgConnection, org: Uuid) -> Result<Self, Problem> {
        sqlx::query_as(
            "SELECT id, name, slug, industry, company_size, website, onboarding_status, created_at \
             FROM organizations WHERE id = $1",
        )
        .bind(org)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Problem::not_found("organization"))
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: Uuid,
    email: String,
    full_name: String,
    role: rules::Role,
    permissions_json: String,
}

impl MemberRow {
    async fn of(conn: &mut PgConnection, org: Uuid) -> Result<Vec<Self>, Problem> {
        Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.full_name, m.role, m.permissions::text AS permissions_json \
             FROM team_memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 ORDER BY m.created_at",
        )
        .bind(org)
        .fetch_all(conn)
        .await?)
    }
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    role: rules::Role,
    permissions_json: String,
}

impl MembershipRow {
    async fn find(conn: &mut PgConnection, org: Uuid, user: Uuid) -> Result<Option<Self>, Problem> {
        Ok(sqlx::query_as(
            "SELECT role, permissions::text AS permissions_json FROM team_memberships \
             WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(org)
        .bind(user)
        .fetch_optional(conn)
        .await?)
    }
}

/// A login for a platform agent, as human-agent asks for it.
struct NewAgentUser {
    email: String,
    full_name: String,
    agent_id: Uuid,
    role: String,
}

impl NewAgentUser {
    fn parse(r: CreateAgentUserRequest) -> Result<Self, Problem> {
        let email = rules::email("email", &r.email)?;
        let full_name =
            check_text(&r.full_name, 1, 200).map_err(|m| Problem::invalid("full_name", m))?;
        let agent_id = id("agent_id", &r.agent_id)?;
        let role =
            check_text(&r.primary_role, 2, 64).map_err(|m| Problem::invalid("primary_role", m))?;
        if !role.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(Problem::bad_request(
                "primary_role must be a role name like sales_agent",
            ));
        }
        // A login never starts as a platform admin: `fleet admin create-platform-admin` makes
        // the first, and a platform admin grants the role in human-agent, whose role sets reach
        // org-auth as events (`agent_roles`). A peer's credential must not mint an admin.
        if role == "platform_admin" {
            return Err(Problem::forbidden(
                "platform_admin is not given to a new login; a platform admin grants it in human-agent",
            ));
        }
        Ok(NewAgentUser {
            email,
            full_name,
            agent_id,
            role,
        })
    }

    /// Its login: no password until the agent sets one with the mailed link.
    async fn insert(&self, conn: &mut PgConnection) -> Result<Uuid, Problem> {
        let user_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (id, email, full_name, user_type, role, agent_id, email_verified) \
             VALUES ($1, $2, $3, 'agent', $4, $5, false)",
        )
        .bind(user_id)
        .bind(&self.email)
        .bind(&self.full_name)
        .bind(&self.role)
        .bind(self.agent_id)
        .execute(conn)
        .await?;
        Ok(user_id)
    }
}

#[tonic::async_trait]
impl OrgAuth for Api {
    async fn get_user(&self, req: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let user = id("user_id", &req.get_ref().user_id)?;
        let mut uow = self.0.db.system().await?;
        let u = sessions::load_user(&mut uow, user)
            .await?
            .ok_or_else(|| Problem::not_found("user"))?;
        Ok(Response::new(User {
            user_id: u.id.to_string(),
            email: u.email,
            full_name: u.full_name,
            user_type: u.user_type.to_string(),
            organization_id: u.organization_id.map(|o| o.to_string()).unwrap_or_default(),
            role: u.role,
            account_status: u.account_status.to_string(),
            email_verified: u.email_verified,
            agent_id: u.agent_id.map(|a| a.to_string()).unwrap_or_default(),
        }))
    }

    async fn get_organization(
        &self,
        req: Request<GetOrganizationRequest>,
    ) -> Result<Response<Organization>, Status> {
        let org = id("organization_id", &req.get_ref().organization_id)?;
        let mut uow = self.0.db.system().await?;
        let o = OrganizationRow::load(&mut uow, org).await?;
        Ok(Response::new(Organization {
            organization_id: o.id.to_string(),
            name: o.name,
            slug: o.slug,
            industry: o.industry.unwrap_or_default(),
            company_size: o.company_size.unwrap_or_default(),
            website: o.website.unwrap_or_default(),
            onboarding_status: o.onboarding_status,
            created_at: o.created_at.to_string(),
        }))
    }

    async fn list_members(
        &self,
        req: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let org = id("organization_id", &req.get_ref().organization_id)?;
        // Scoped to the organisation asked about: RLS returns its members only.
        let mut uow = self.0.db.begin(Scope::tenant(org)).await?;
        let members = MemberRow::of(&mut uow, org)
            .await?
            .into_iter()
            .map(|r| Member {
                user_id: r.user_id.to_string(),
                email: r.email,
                full_name: r.full_name,
                role: r.role.to_string(),
                permissions_json: r.permissions_json,
            })
            .collect();
        Ok(Response::new(ListMembersResponse { members }))
    }

    async fn check_membership(
        &self,
        req: Request<CheckMembershipRequest>,
    ) -> Result<Response<CheckMembershipResponse>, Status> {
        let org = id("organization_id", &req.get_ref().organization_id)?;
        let user = id("user_id", &req.get_ref().user_id)?;
        let mut uow = self.0.db.begin(Scope::tenant(org)).await?;
        Ok(Response::new(
            match MembershipRow::find(&mut uow, org, user).await? {
                Some(r) => CheckMembershipResponse {
                    member: true,
                    role: r.role.to_string(),
                    permissions_json: r.permissions_json,
                },
                None => CheckMembershipResponse::default(),
            },
        ))
    }

    async fn create_agent_user(
        &self,
        req: Request<CreateAgentUserRequest>,
    ) -> Result<Response<CreateAgentUserResponse>, Status> {
        let new = NewAgentUser::parse(req.into_inner())?;
        let s = &self.0;
        let internal = Origin {
            ip: "internal".into(),
            user_agent: None,
        };
        let mut uow = s.db.system().await?.from(&internal);
        if sessions::load_user_by_email(&mut uow, &new.email)
            .await?
            .is_some()
        {
            return Err(problems::EMAIL_TAKEN
                .with("an account already exists for this email")
                .into());
        }
        let user_id = new.insert(&mut uow).await?;
        let link = accounts::password_link(&mut uow, &s.app_url, user_id, PasswordPurpose::Initial)
            .await?;
        let meta = serde_json::json!({"agent_id": new.agent_id, "role": new.role});
        uow.audit(Entry::new("agent_user_created").user(user_id).meta(meta))
            .await?;
        uow.commit().await?;
        // The answer says whether the mail went out, so it is sent here, not after commit.
        let sent = s
            .mail
            .send(mail::password_reset(&new.email, &link, true))
            .await;
        Ok(Response::new(CreateAgentUserResponse {
            user_id: user_id.to_string(),
            password_link_sent: sent,
        }))
    }
}
