//! Agents' role sets arriving from human-agent (`agent_roles_changed`): the tokens carry the
//! real set, newer versions only count, and a set that shrank ends the agent's sessions.
use std::time::Duration;

use kit::contracts::workflow::org_auth::v1::{
    CreateAgentUserRequest, org_auth_client::OrgAuthClient,
};
use kit::tonic::{Request, metadata::MetadataValue, transport::Channel};

use crate::support::*;

const CRED: &str = "internal-credential-for-tests-0123456789abcdef";
const PASSWORD: &str = "Agent-Pass-2026!";

/// org-auth and an agent login it made through gRPC, with its password set: (agent id, email).
async fn agent_login(roles_first: &str) -> anyhow::Result<(OrgAuth, Uuid, String)> {
    let t = svc_with(&[("FLEET_INTERNAL_TOKEN", CRED)], "203.0.113.61").await?;
    let mut client = OrgAuthClient::new(Channel::from_shared(t.grpc.clone())?.connect().await?);
    let (agent, address) = (Uuid::new_v4(), email("roles"));
    let mut req = Request::new(CreateAgentUserRequest {
        email: address.clone(),
        full_name: "Sam Peterson".into(),
        agent_id: agent.to_string(),
        primary_role: roles_first.into(),
    });
    req.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {CRED}"))?,
    );
    client.create_agent_user(req).await?;
    let token = t
        .mailbox()
        .link_param(&address, "Set your password", "token");
    t.post("/api/v1/auth/password-reset/confirm")
        .json(json!({"token": token, "new_password": PASSWORD}))
        .expect(200)
        .await;
    Ok((t, agent, address))
}

impl OrgAuth {
    /// Publishes `agent_roles_changed` as human-agent does (platform-wide: the nil key).
    async fn publish_roles(
        &self,
        agent: Uuid,
        roles: &[&str],
        active: bool,
        version: i64,
    ) -> anyhow::Result<()> {
        let kafka = &self.shared.config.kafka;
        let env = json!({"event_id": Uuid::now_v7().to_string(), "event_type": "agent_roles_changed",
            "source": "human-agent", "occurred_at": kit::now_rfc3339(), "organization_id": Uuid::nil().to_string(),
            "subject_id": agent.to_string(), "trace_parent": "",
            "data": {"agent_id": agent.to_string(), "user_id": Uuid::new_v4().to_string(), "primary_role": roles[0],
                     "roles": roles, "is_active": active, "version": version}});
        kit::events::Producer::new(kafka)?
            .send(
                &kafka.topic("agent_events"),
                &Uuid::nil().to_string(),
                env.to_string().as_bytes(),
                &[],
            )
            .await?;
        Ok(())
    }

    /// Waits until the agent's set of `version` is applied (events of one agent arrive in
    /// order, so the ones before it have been handled too); the roles held then.
    async fn roles_at(&self, agent: Uuid, version: i64) -> anyhow::Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            let row: Option<(Vec<String>, i64)> =
                sqlx::query_as("SELECT roles, version FROM agent_roles WHERE agent_id = $1")
                    .bind(agent)
                    .fetch_optional(&mut *self.system_tx().await?)
                    .await?;
            if let Some((roles, v)) = row.filter(|(_, v)| *v >= version) {
                anyhow::ensure!(v == version, "version {v} applied, {version} expected");
                return Ok(roles);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "version {version} never applied"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn login_agent(&self, address: &str) -> anyhow::Result<(StatusCode, Value)> {
        Ok(self
            .post("/api/v1/auth/login")
            .json(json!({"email": address, "password": PASSWORD}))
            .send()
            .await?
            .parts())
    }

    async fn refresh(&self, token: &Value) -> anyhow::Result<(StatusCode, Value)> {
        Ok(self
            .post("/api/v1/auth/refresh")
            .json(json!({"refresh_token": token}))
            .send()
            .await?
            .parts())
    }

    fn claims(&self, body: &Value) -> anyhow::Result<kit::auth::Claims> {
        Ok(self.tokens.verifier.verify_now(&s(&body["access_token"]))?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_token_carries_every_role_human_agent_published() -> anyhow::Result<()> {
    let (t, agent, address) = agent_login("sales_agent").await?;
    let (st, first) = t.login_agent(&address).await?;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert_eq!(
        t.claims(&first)?.all_roles,
        ["sales_agent"],
        "the login's role until a set arrives"
    );
    t.publish_roles(
        agent,
        &["sales_agent", "ai_supervisor", "platform_admin"],
        true,
        2,
    )
    .await?;
    t.roles_at(agent, 2).await?;
    let (st, next) = t.refresh(&first["refresh_token"]).await?;
    assert_eq!(st, StatusCode::OK, "a grown set keeps the sessions: {next}");
    let c = t.claims(&next)?;
    assert_eq!(
        c.all_roles,
        ["sales_agent", "ai_supervisor", "platform_admin"]
    );
    assert_eq!(c.primary_role.as_deref(), Some("sales_agent"));
    assert_eq!(c.role, "sales_agent");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demotion_ends_the_agents_sessions_and_late_or_repeated_sets_change_nothing()
-> anyhow::Result<()> {
    let (t, agent, address) = agent_login("sales_agent").await?;
    t.publish_roles(agent, &["platform_admin", "sales_agent"], true, 2)
        .await?;
    t.roles_at(agent, 2).await?;
    let (_, admin) = t.login_agent(&address).await?;
    assert_eq!(
        t.claims(&admin)?.all_roles,
        ["platform_admin", "sales_agent"]
    );

    // The demotion, then an older set arriving late, the demotion again, and a later set that
    // changes nothing (its arrival shows the ones before it were handled).
    t.publish_roles(agent, &["sales_agent"], true, 4).await?;
    t.publish_roles(agent, &["platform_admin", "sales_agent"], true, 3)
        .await?;
    t.publish_roles(agent, &["sales_agent"], true, 4).await?;
    t.publish_roles(agent, &["sales_agent"], true, 5).await?;
    assert_eq!(t.roles_at(agent, 5).await?, ["sales_agent"]);
    let (st, _) = t.refresh(&admin["refresh_token"]).await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the admin's session ended with the role"
    );
    let (st, again) = t.login_agent(&address).await?;
    assert_eq!(st, StatusCode::OK, "{again}");
    let c = t.claims(&again)?;
    assert_eq!(c.all_roles, ["sales_agent"], "the late set was not applied");
    assert!(!c.all_roles.iter().any(|r| r == "platform_admin"));

    t.publish_roles(agent, &["sales_agent"], false, 6).await?;
    t.roles_at(agent, 6).await?;
    let (st, _) = t.refresh(&again["refresh_token"]).await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "deactivation ends the sessions"
    );
    let (st, body) = t.login_agent(&address).await?;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a deactivated agent gets no token: {body}"
    );
    let lost: Vec<Value> = sqlx::query_scalar(
        "SELECT metadata->'lost' FROM audit_logs WHERE action = 'agent_roles_updated' ORDER BY \"timestamp\"",
    )
    .fetch_all(&mut *t.system_tx().await?)
    .await?;
    assert_eq!(
        lost,
        [
            json!([]),
            json!(["platform_admin"]),
            json!([]),
            json!(["sales_agent"])
        ]
    );
    Ok(())
}
