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

#[tokio::test]
async fn registration_takes_the_specifications_role_objects_and_answers_them_with_ids()
-> anyhow::Result<()> {
    let p = pair().await?;
    let body = json!({"email": agent_email(), "full_name": "Sam Peterson",
        "roles": [{"role_type": "onboarding_specialist", "primary": false, "skills": ["integration_setup"], "certifications": [], "languages": ["english"]},
                  {"role_type": "sales_agent", "is_primary": true, "skills": ["b2b_saas"], "certifications": ["Salesforce_Certified"], "languages": ["spanish"]}],
        "capacity": {"max_concurrent_clients": 15, "max_active_handoffs": 3, "availability_hours": "09:00-18:00 EST"}});
    let a = p
        .post("/api/v1/agents")
        .bearer(&p.admin)
        .json(&body)
        .expect(201)
        .await;
    assert_eq!(a["primary_role"], "sales_agent", "the role marked primary");
    assert_eq!(
        a["all_roles"],
        json!(["sales_agent", "onboarding_specialist"])
    );
    assert_eq!(a["roles"][0]["role_type"], "sales_agent");
    assert_eq!(a["roles"][0]["primary"], true);
    assert_eq!(a["roles"][1]["primary"], false);
    assert_eq!(a["roles"][1]["skills"], json!(["integration_setup"]));
    assert!(
        a["roles"][0]["role_id"]
            .as_str()
            .is_some_and(|r| r.parse::<Uuid>().is_ok()),
        "{a}"
    );
    assert!(a["roles"][0]["assigned_at"].is_string());
    assert_eq!(
        a["skills"],
        json!(["b2b_saas", "integration_setup"]),
        "routing matches every role's skills"
    );
    assert_eq!(a["languages"], json!(["spanish", "english"]));
    assert_eq!(
        (a["max_capacity"].clone(), a["max_active_handoffs"].clone()),
        (json!(15), json!(3))
    );
    assert_eq!(a["availability_hours"], "09:00-18:00 EST");
    assert_eq!(
        a["current_workload"],
        json!({"active_clients": 0, "pending_handoffs": 0, "utilization_percent": 0.0})
    );
    let id = s(&a["agent_id"]);
    let changed = p
        .patch(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .json(json!({"roles": ["onboarding_specialist", "ai_supervisor"]}))
        .expect(200)
        .await;
    assert_eq!(changed["primary_role"], "onboarding_specialist");
    assert_eq!(
        changed["roles"][0]["role_id"], a["roles"][1]["role_id"],
        "a role still held keeps its id and details"
    );
    assert_eq!(changed["roles"][0]["skills"], json!(["integration_setup"]));
    assert_eq!(changed["roles"][1]["role_type"], "ai_supervisor");
    assert_eq!(
        changed["roles"].as_array().map(Vec::len),
        Some(2),
        "sales_agent is gone"
    );
    let read = p
        .get(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .expect(200)
        .await;
    assert_eq!(read["roles"], changed["roles"]);
    for bad in [
        json!([{"role_type": "sales_agent", "primary": true}, {"role_type": "ai_supervisor", "primary": true}]),
        json!([{"role_type": "sales_agent", "rank": 1}]),
        json!([{"role_type": "sales_agent", "skills": ["no spaces"]}]),
    ] {
        let refused = p
            .post("/api/v1/agents")
            .bearer(&p.admin)
            .json(json!({"email": agent_email(), "full_name": "X", "roles": bad}))
            .expect_problem(422)
            .await;
        assert!(s(&refused["detail"]).starts_with("roles"), "{refused}");
    }
    Ok(())
}

#[tokio::test]
async fn platform_admin_is_granted_to_a_registered_agent_never_at_registration()
-> anyhow::Result<()> {
    let p = pair().await?;
    let refused = p
        .post("/api/v1/agents")
        .bearer(&p.admin)
        .json(json!({"email": agent_email(), "full_name": "Eve", "roles": ["sales_agent", "platform_admin"]}))
        .expect_problem(422)
        .await;
    assert!(
        s(&refused["detail"]).starts_with("roles: platform_admin is granted"),
        "{refused}"
    );
    let (id, _) = p.agent(&["sales_agent"], 5, &[]).await?;
    let granted = p
        .patch(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .json(json!({"roles": ["sales_agent", "platform_admin"]}))
        .expect(200)
        .await;
    assert_eq!(
        granted["all_roles"],
        json!(["sales_agent", "platform_admin"])
    );
    let sets = p.assert_outbox("agent_roles_changed").await;
    let mine: Vec<_> = sets
        .iter()
        .filter(|e| e.subject_id == id.to_string())
        .collect();
    assert_eq!(mine.len(), 2, "one at registration, one for the grant");
    assert_eq!(mine[0].data["version"], 1);
    assert_eq!(mine[1].data["version"], 2);
    assert_eq!(
        mine[1].data["roles"],
        json!(["sales_agent", "platform_admin"])
    );
    assert_eq!(mine[1].organization_id, Uuid::nil().to_string());
    p.patch(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .json(json!({"max_capacity": 7}))
        .expect(200)
        .await;
    let after = p.assert_outbox("agent_roles_changed").await;
    assert_eq!(
        after.len(),
        sets.len(),
        "a change of capacity leaves the role set alone"
    );
    Ok(())
}

#[tokio::test]
async fn a_demoted_platform_admin_cannot_change_agents_with_its_earlier_token() -> anyhow::Result<()>
{
    let p = pair().await?;
    let eve = p.register(&["sales_agent"], 5, &[]).await?;
    p.patch(&format!("/api/v1/agents/{}", eve.id))
        .bearer(&p.admin)
        .json(json!({"roles": ["platform_admin", "sales_agent"]}))
        .expect(200)
        .await;
    let user = id(&p
        .get(&format!("/api/v1/agents/{}", eve.id))
        .bearer(&p.admin)
        .expect(200)
        .await["user_id"]);
    // The token Eve was issued while she was an admin.
    let eve_admin = p
        .tokens
        .agent(user, eve.id, &["platform_admin", "sales_agent"]);
    let (other, _) = p.agent(&["support_specialist"], 5, &[]).await?;
    p.patch(&format!("/api/v1/agents/{other}"))
        .bearer(&eve_admin)
        .json(json!({"max_capacity": 6}))
        .expect(200)
        .await;
    p.patch(&format!("/api/v1/agents/{}", eve.id))
        .bearer(&p.admin)
        .json(json!({"roles": ["sales_agent"]}))
        .expect(200)
        .await;
    for (path, body) in [
        (
            format!("/api/v1/agents/{}", eve.id),
            json!({"roles": ["platform_admin", "sales_agent"]}),
        ),
        (
            format!("/api/v1/agents/{other}"),
            json!({"max_capacity": 7}),
        ),
    ] {
        p.patch(&path)
            .bearer(&eve_admin)
            .json(body)
            .expect_problem(403)
            .await;
    }
    p.post("/api/v1/agents")
        .bearer(&eve_admin)
        .json(json!({"email": agent_email(), "full_name": "Mallory", "roles": ["sales_agent"]}))
        .expect_problem(403)
        .await;
    let read = p
        .get(&format!("/api/v1/agents/{}", eve.id))
        .bearer(&p.admin)
        .expect(200)
        .await;
    assert_eq!(
        read["all_roles"],
        json!(["sales_agent"]),
        "she did not promote herself again"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_changes_reach_org_auth_whose_refreshed_tokens_carry_them_and_a_demotion_ends_sessions()
-> anyhow::Result<()> {
    let p = pair().await?;
    let a = p.register(&["sales_agent"], 5, &[]).await?;
    let link = p
        .org_auth
        .mailbox()
        .link_param(&a.email, "Set your password", "token");
    p.org_auth
        .post("/api/v1/auth/password-reset/confirm")
        .json(json!({"token": link, "new_password": "Agent-Pass-2026!"}))
        .expect(200)
        .await;
    let login = p
        .org_auth
        .post("/api/v1/auth/login")
        .json(json!({"email": a.email, "password": "Agent-Pass-2026!"}))
        .expect(200)
        .await;
    let set = |roles: Value| {
        p.patch(&format!("/api/v1/agents/{}", a.id))
            .bearer(&p.admin)
            .json(json!({"roles": roles}))
            .expect(200)
    };
    set(json!(["sales_agent", "ai_supervisor"])).await;
    wait_for_version(&p, a.id, 2).await?;
    let refreshed = p
        .org_auth
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": login["refresh_token"]}))
        .expect(200)
        .await;
    let claims = p
        .org_auth
        .tokens
        .verifier
        .verify_now(&s(&refreshed["access_token"]))?;
    assert_eq!(claims.all_roles, ["sales_agent", "ai_supervisor"]);
    set(json!(["sales_agent"])).await;
    wait_for_version(&p, a.id, 3).await?;
    p.org_auth
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": refreshed["refresh_token"]}))
        .expect_problem(401)
        .await;
    Ok(())
}

/// Waits until org-auth has applied the agent's role set of `version`.
async fn wait_for_version(p: &Pair, agent: Uuid, version: i64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let held: Option<i64> =
            sqlx::query_scalar("SELECT version FROM agent_roles WHERE agent_id = $1")
                .bind(agent)
                .fetch_optional(&mut *p.org_auth.system_tx().await?)
                .await?;
        if held.is_some_and(|v| v >= version) {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "org-auth never applied version {version}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
