//! human-agent's own setup on top of testkit's harness: org-auth beside it (gRPC for agent
//! logins, Kafka for `assisted_account_created`), registered agents, presence.
use std::ops::Deref;

pub use reqwest::{Method, StatusCode};
pub use serde_json::{Value, json};
pub use testkit::{Auth, Svc};
pub use uuid::Uuid;

pub const CRED: &str = "internal-credential-for-tests-0123456789abcdef";

/// human-agent (what requests go to) and org-auth beside it, sharing a Kafka namespace, with a
/// platform admin's token.
pub struct Pair {
    pub org_auth: Svc,
    pub agents: Svc,
    pub admin: String,
}

impl Deref for Pair {
    type Target = Svc;
    fn deref(&self) -> &Svc {
        &self.agents
    }
}

pub async fn pair() -> anyhow::Result<Pair> {
    pair_with(&[]).await
}

/// [`pair`] with extra settings for human-agent.
pub async fn pair_with(extra: &[(&str, &str)]) -> anyhow::Result<Pair> {
    let ns = format!("{}_", testkit::unique("pair"));
    let org_auth = Svc::start_with(
        &org_auth::SERVICE,
        &[
            ("FLEET_KAFKA_NAMESPACE", &ns),
            ("FLEET_INTERNAL_TOKEN", CRED),
        ],
    )
    .await?;
    let grpc = org_auth.grpc.clone();
    let mut env = vec![
        ("FLEET_KAFKA_NAMESPACE", ns.as_str()),
        ("FLEET_INTERNAL_TOKEN", CRED),
        ("ORG_AUTH_GRPC_URL", grpc.as_str()),
    ];
    env.extend_from_slice(extra);
    let agents = Svc::new(testkit::spawn_with(&human_agent::SERVICE, &env).await?);
    let admin = agents
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["platform_admin"]);
    Ok(Pair {
        org_auth,
        agents,
        admin,
    })
}

pub fn id(v: &Value) -> Uuid {
    v.as_str().and_then(|x| x.parse().ok()).unwrap_or_default()
}

pub fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

pub fn agent_email() -> String {
    testkit::unique_email_at("agent", "workflow.test")
}

/// A registered agent: its id, token and address.
pub struct Registered {
    pub id: Uuid,
    pub token: String,
    pub email: String,
}

impl Pair {
    /// Registers an agent and returns (agent_id, its token).
    pub async fn agent(
        &self,
        roles: &[&str],
        capacity: i32,
        skills: &[&str],
    ) -> anyhow::Result<(Uuid, String)> {
        let a = self.register(roles, capacity, skills).await?;
        Ok((a.id, a.token))
    }

    /// Registers an agent (with an address of its own).
    pub async fn register(
        &self,
        roles: &[&str],
        capacity: i32,
        skills: &[&str],
    ) -> anyhow::Result<Registered> {
        let email = agent_email();
        let a = self
            .post("/api/v1/agents")
            .bearer(&self.admin)
            .json(json!({"email": email, "full_name": "Sam Peterson", "roles": roles, "max_capacity": capacity, "skills": skills}))
            .expect(201)
            .await;
        let (agent, user) = (id(&a["agent_id"]), id(&a["user_id"]));
        Ok(Registered {
            id: agent,
            token: self.tokens.agent(user, agent, roles),
            email,
        })
    }

    /// Sets the agent online.
    pub async fn online(&self, id: Uuid, token: &str) -> anyhow::Result<()> {
        self.patch(&format!("/api/v1/agents/{id}/availability"))
            .bearer(token)
            .json(json!({"status": "online"}))
            .expect(200)
            .await;
        Ok(())
    }

    /// A manual assignment of `client` of `org` to `agent` as `role`: its status.
    pub async fn assign(
        &self,
        client: Uuid,
        org: Uuid,
        role: &str,
        agent: Uuid,
    ) -> anyhow::Result<StatusCode> {
        Ok(self
            .post("/api/v1/agents/assignments")
            .bearer(&self.admin)
            .json(json!({"client_id": client, "organization_id": org, "role_type": role, "assignment_type": "manual", "agent_id": agent}))
            .send()
            .await?
            .status)
    }

    /// The agent's workload, read with `token`.
    pub async fn workload(&self, agent: Uuid, token: &str) -> anyhow::Result<Value> {
        Ok(self
            .get(&format!("/api/v1/agents/{agent}/workload"))
            .bearer(token)
            .send()
            .await?
            .body)
    }
}
