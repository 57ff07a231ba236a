//! org-auth's own setup on top of testkit's harness: verified users, organisations with their
//! admin, members who accepted an invitation, and agents as the gateway presents them.
use std::ops::Deref;

pub use reqwest::{Method, StatusCode};
pub use serde_json::{Value, json};
pub use testkit::{Auth, Svc, unique_email as email};
pub use uuid::Uuid;

/// org-auth running for one test.
pub struct OrgAuth(Svc);

impl Deref for OrgAuth {
    type Target = Svc;
    fn deref(&self) -> &Svc {
        &self.0
    }
}

/// org-auth with a client address of its own (per-address limits do not collide).
pub async fn svc() -> anyhow::Result<OrgAuth> {
    Ok(OrgAuth(Svc::start(&org_auth::SERVICE).await?))
}

/// [`svc`] with extra settings, from the client address `ip`.
pub async fn svc_with(extra: &[(&str, &str)], ip: &str) -> anyhow::Result<OrgAuth> {
    Ok(OrgAuth(
        Svc::start_with(&org_auth::SERVICE, extra)
            .await?
            .with_client_ip(ip),
    ))
}

pub fn signup_body(email: &str) -> Value {
    json!({"email": email, "password": "SecurePass123!", "full_name": "John Doe",
           "company_name": "Acme Corp", "role_in_company": "Product Manager"})
}

pub fn assisted_body(email: &str) -> Value {
    json!({"client_email": email, "client_name": "Casey Client", "company_name": "Example Corp",
           "company_website": "https://example-corp.test", "industry": "retail", "company_size": "10-50",
           "notes": "Met at the trade fair"})
}

pub fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

pub fn uuid(v: &Value) -> Uuid {
    v.as_str().and_then(|x| x.parse().ok()).unwrap_or_default()
}

/// An agent's token plus the gateway's permission headers (what Kong injects).
pub struct Agent {
    pub auth: Auth,
    pub token: String,
    pub agent_id: Uuid,
}

/// The credentials of `token` presented as agent `agent_id` with `permissions` (when the
/// gateway looked them up).
pub fn agent_auth(token: &str, agent_id: Uuid, permissions: Option<&Value>) -> Auth {
    let auth = Auth::bearer(token);
    match permissions {
        Some(p) => auth
            .header("x-agent-id", agent_id.to_string())
            .header("x-agent-permissions", p.to_string()),
        None => auth,
    }
}

impl OrgAuth {
    /// The six-character code of the newest verification mail to `to`.
    pub fn code_for(&self, to: &str) -> String {
        self.mailbox().code(to, "verification code is ", 6)
    }

    /// Signs up and verifies; returns (user_id, access token, refresh token).
    pub async fn verified_user(&self, email: &str) -> anyhow::Result<(Uuid, String, String)> {
        self.post("/api/v1/auth/signup")
            .json(signup_body(email))
            .expect(201)
            .await;
        let code = self.code_for(email);
        let body = self
            .post("/api/v1/auth/verify-email")
            .json(json!({"email": email, "verification_code": code}))
            .expect(200)
            .await;
        Ok((
            uuid(&body["user_id"]),
            s(&body["access_token"]),
            s(&body["refresh_token"]),
        ))
    }

    /// A verified user with an organisation: (org_id, admin user id, admin token).
    pub async fn org_admin(
        &self,
        email: &str,
        org_name: &str,
    ) -> anyhow::Result<(Uuid, Uuid, String)> {
        let (user, token, _) = self.verified_user(email).await?;
        let body = self
            .post("/api/v1/organizations")
            .bearer(&token)
            .json(json!({"organization_name": org_name, "industry": "e-commerce"}))
            .expect(201)
            .await;
        Ok((
            uuid(&body["organization_id"]),
            user,
            s(&body["access_token"]),
        ))
    }

    /// Invites `email` to `org` and accepts: (invitation, its link's token).
    pub async fn invite(
        &self,
        org: Uuid,
        admin: &str,
        email: &str,
        role: &str,
    ) -> anyhow::Result<(Value, String)> {
        let inv = self
            .post(&format!("/api/v1/organizations/{org}/invitations"))
            .bearer(admin)
            .json(json!({"email": email, "role": role}))
            .expect(201)
            .await;
        let token = testkit::mailbox::link_param(&s(&inv["invitation_link"]), "token")
            .expect("token in link");
        Ok((inv, token))
    }

    /// Invites and accepts: (member user id, member token, member refresh token).
    pub async fn member(
        &self,
        org: Uuid,
        admin: &str,
        email: &str,
        role: &str,
    ) -> anyhow::Result<(Uuid, String, String)> {
        let (inv, token) = self.invite(org, admin, email, role).await?;
        let body = self
            .post(&format!(
                "/api/v1/invitations/{}/accept",
                s(&inv["invitation_id"])
            ))
            .json(json!({"token": token, "full_name": "Sarah Member", "password": "Another-Pass-987"}))
            .expect(200)
            .await;
        Ok((
            uuid(&body["user_id"]),
            s(&body["access_token"]),
            s(&body["refresh_token"]),
        ))
    }

    /// An agent with `roles`; `permissions` are the headers the gateway adds (none: a platform
    /// admin, which needs no lookup).
    pub fn agent(&self, roles: &[&str], permissions: Option<Value>) -> Agent {
        let agent_id = Uuid::new_v4();
        let token = self.tokens.agent(Uuid::new_v4(), agent_id, roles);
        Agent {
            auth: agent_auth(&token, agent_id, permissions.as_ref()),
            token,
            agent_id,
        }
    }

    /// The actions in the audit log, as the service's own work.
    pub async fn audit_actions(&self) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT action FROM audit_logs")
            .fetch_all(&mut *self.system_tx().await?)
            .await?)
    }
}
