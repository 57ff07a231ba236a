//! Registering agents (their login created through org-auth) and reading their profiles.
use crate::support::*;

#[tokio::test]
async fn registering_an_agent_creates_its_login_through_org_auth_once() -> anyhow::Result<()> {
    let p = pair().await?;
    let email = testkit::unique_email_at("sam", "workflow.test");
    let body = json!({"email": email, "full_name": "Sam Peterson", "roles": ["sales_agent", "onboarding_specialist"],
                      "skills": ["b2b_saas", "enterprise_sales"], "languages": ["en", "es"], "max_capacity": 15});
    let (st, a) = p
        .post("/api/v1/agents")
        .bearer(&p.admin)
        .json(&body)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(a["primary_role"], "sales_agent");
    assert_eq!(
        a["permissions"]["assisted_signup"],
        json!(["create", "read", "update"])
    );
    assert!(
        p.org_auth
            .mailbox()
            .all(&email)
            .iter()
            .any(|m| m.subject == "Set your password"),
        "org-auth mailed the set-password link"
    );
    let (st, _) = p
        .post("/api/v1/agents")
        .bearer(&p.admin)
        .json(&body)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CONFLICT);
    let events = p.outbox_types().await?;
    assert!(events.iter().any(|e| e == "agent_registered"));
    p.assert_outbox_once("agent_registered", &s(&a["agent_id"]))
        .await;
    Ok(())
}

#[tokio::test]
async fn registration_refuses_unknown_roles_and_malformed_fields() -> anyhow::Result<()> {
    let p = pair().await?;
    let bad = [
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["wizard"]}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["sales_agent"], "max_capacity": 0}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["sales_agent"], "skills": "b2b"}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": []}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["sales_agent"], "permissions": {"a": "b"}}),
    ];
    for b in bad {
        let (st, body) = p
            .post("/api/v1/agents")
            .bearer(&p.admin)
            .json(&b)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {body}");
    }
    Ok(())
}

#[tokio::test]
async fn only_platform_admins_register_agents_and_clients_cannot_read_profiles()
-> anyhow::Result<()> {
    let p = pair().await?;
    let (agent, _) = p.agent(&["sales_agent"], 5, &[]).await?;
    let sales = p
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["sales_agent"]);
    let (st, _) = p
        .post("/api/v1/agents")
        .bearer(&sales)
        .json(json!({"email": "y@workflow.test", "full_name": "Y", "roles": ["sales_agent"]}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::FORBIDDEN);
    let client = p.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let (st, _) = p
        .get(&format!("/api/v1/agents/{agent}"))
        .bearer(&client)
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "clients cannot read agent profiles"
    );
    Ok(())
}
