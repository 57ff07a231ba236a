//! human-agent over HTTP with org-auth running beside it (gRPC for agent logins, Kafka for
//! `assisted_account_created`), against the real datastores.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const CRED: &str = "internal-credential-for-tests-0123456789abcdef";

struct Pair {
    org_auth: testkit::Spawned,
    agents: testkit::Spawned,
    admin: String,
}

async fn pair() -> anyhow::Result<Pair> {
    pair_with(&[]).await
}

async fn pair_with(extra: &[(&str, &str)]) -> anyhow::Result<Pair> {
    let ns = format!("{}_", testkit::unique("pair"));
    let org_auth = testkit::spawn_with(
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
    let agents = testkit::spawn_with(&human_agent::SERVICE, &env).await?;
    let admin = agents
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["platform_admin"]);
    Ok(Pair {
        org_auth,
        agents,
        admin,
    })
}

impl Pair {
    /// human-agent's Redis key `k` in this test's namespace.
    fn redis_key(&self, k: &str) -> String {
        let ns = self.agents.shared.config.redis_namespace();
        format!("{ns}human-agent:{k}")
    }

    async fn call(
        &self,
        m: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.agents.call(m, path, token, body, &[]).await
    }

    /// Registers an agent and returns (agent_id, its token).
    async fn agent(
        &self,
        roles: &[&str],
        capacity: i32,
        skills: &[&str],
    ) -> anyhow::Result<(Uuid, String)> {
        let email = format!(
            "agent.{}@workflow.test",
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let (st, a) = self
            .call(Method::POST, "/api/v1/agents", Some(&self.admin), Some(json!({"email": email, "full_name": "Sam Peterson", "roles": roles, "max_capacity": capacity, "skills": skills})))
            .await?;
        assert_eq!(st, StatusCode::CREATED, "{a}");
        let id: Uuid = a["agent_id"].as_str().unwrap_or_default().parse()?;
        let user: Uuid = a["user_id"].as_str().unwrap_or_default().parse()?;
        Ok((id, self.agents.tokens.agent(user, id, roles)))
    }

    async fn online(&self, id: Uuid, token: &str) -> anyhow::Result<()> {
        let (st, b) = self
            .call(
                Method::PATCH,
                &format!("/api/v1/agents/{id}/availability"),
                Some(token),
                Some(json!({"status": "online"})),
            )
            .await?;
        assert_eq!(st, StatusCode::OK, "{b}");
        Ok(())
    }
}

#[tokio::test]
async fn registering_agents_creates_their_login_and_validates_input() -> anyhow::Result<()> {
    let p = pair().await?;
    let email = format!(
        "sam.{}@workflow.test",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let body = json!({"email": email, "full_name": "Sam Peterson", "roles": ["sales_agent", "onboarding_specialist"],
                      "skills": ["b2b_saas", "enterprise_sales"], "languages": ["en", "es"], "max_capacity": 15});
    let (st, a) = p
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&p.admin),
            Some(body.clone()),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(a["primary_role"], "sales_agent");
    assert_eq!(
        a["permissions"]["assisted_signup"],
        json!(["create", "read", "update"])
    );
    assert!(
        notify::read_mailbox(&p.org_auth.mailbox, &email)
            .iter()
            .any(|m| m.subject == "Set your password"),
        "org-auth mailed the set-password link"
    );
    let (st, _) = p
        .call(Method::POST, "/api/v1/agents", Some(&p.admin), Some(body))
        .await?;
    assert_eq!(st, StatusCode::CONFLICT);
    let events: Vec<String> = sqlx::query_scalar("SELECT event_type FROM outbox")
        .fetch_all(&p.agents.db.owner)
        .await?;
    assert!(events.iter().any(|e| e == "agent_registered"));

    let bad = [
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["wizard"]}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["sales_agent"], "max_capacity": 0}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["sales_agent"], "skills": "b2b"}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": []}),
        json!({"email": "x@workflow.test", "full_name": "X", "roles": ["sales_agent"], "permissions": {"a": "b"}}),
    ];
    for b in bad {
        let (st, body) = p
            .call(
                Method::POST,
                "/api/v1/agents",
                Some(&p.admin),
                Some(b.clone()),
            )
            .await?;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {body}");
    }
    let sales = p
        .agents
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["sales_agent"]);
    let (st, _) = p
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&sales),
            Some(json!({"email": "y@workflow.test", "full_name": "Y", "roles": ["sales_agent"]})),
        )
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let client = p
        .agents
        .tokens
        .client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let (st, _) = p
        .call(
            Method::GET,
            &format!(
                "/api/v1/agents/{}",
                a["agent_id"].as_str().unwrap_or_default()
            ),
            Some(&client),
            None,
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "clients cannot read agent profiles"
    );
    Ok(())
}

#[tokio::test]
async fn the_permissions_lookup_is_internal_and_current() -> anyhow::Result<()> {
    let p = pair().await?;
    let (id, token) = p.agent(&["sales_agent"], 5, &[]).await?;
    let path = format!("/api/v1/agents/{id}/permissions");
    let (st, _) = p.call(Method::GET, &path, None, None).await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = p.call(Method::GET, &path, Some(&token), None).await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "an agent's own token is not the service credential"
    );
    let (st, body) = p.call(Method::GET, &path, Some(CRED), None).await?;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        body["permissions"]["assisted_signup"],
        json!(["create", "read", "update"])
    );
    assert_eq!(body["status"], "active", "the account, which Kong checks");
    assert_eq!(body["presence"], "offline");
    let (_, again) = p.call(Method::GET, &path, Some(CRED), None).await?;
    assert_eq!(again, body, "the cached answer is the same answer");
    let (st, _) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{}/permissions", Uuid::new_v4()),
            Some(CRED),
            None,
        )
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = p
        .call(
            Method::PATCH,
            &format!("/api/v1/agents/{id}"),
            Some(&p.admin),
            Some(json!({"permissions": {"research_engine": ["read"]}})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    let (_, body) = p.call(Method::GET, &path, Some(CRED), None).await?;
    assert_eq!(
        body["permissions"],
        json!({"research_engine": ["read"]}),
        "a change shows on the next lookup"
    );
    let (_, _) = p
        .call(
            Method::PATCH,
            &format!("/api/v1/agents/{id}"),
            Some(&p.admin),
            Some(json!({"is_active": false})),
        )
        .await?;
    let (_, body) = p.call(Method::GET, &path, Some(CRED), None).await?;
    assert_eq!(
        body["permissions"],
        json!({}),
        "a deactivated agent holds nothing"
    );
    assert_eq!(body["status"], "inactive");
    Ok(())
}

#[tokio::test]
async fn assignment_prefers_the_least_utilised_and_never_exceeds_capacity() -> anyhow::Result<()> {
    let p = pair().await?;
    let (busy, busy_t) = p
        .agent(&["onboarding_specialist"], 4, &["integration_setup"])
        .await?;
    let (free, free_t) = p
        .agent(&["onboarding_specialist"], 4, &["integration_setup"])
        .await?;
    let (offline, _) = p
        .agent(&["onboarding_specialist"], 50, &["integration_setup"])
        .await?;
    p.online(busy, &busy_t).await?;
    p.online(free, &free_t).await?;
    let org = Uuid::new_v4();
    let assign = |agent: Option<Uuid>, client: Uuid| {
        let mut b = json!({"client_id": client, "organization_id": org, "role_type": "onboarding_specialist", "required_skills": ["integration_setup"]});
        if let Some(a) = agent {
            b["assignment_type"] = json!("manual");
            b["agent_id"] = json!(a);
        }
        p.call(
            Method::POST,
            "/api/v1/agents/assignments",
            Some(&p.admin),
            Some(b),
        )
    };
    let (st, first) = assign(Some(busy), Uuid::new_v4()).await?;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    assert!(first["sla"]["first_contact_deadline"].is_string());
    let (st, auto) = assign(None, Uuid::new_v4()).await?;
    assert_eq!(st, StatusCode::CREATED, "{auto}");
    assert_eq!(
        auto["agent_id"],
        free.to_string(),
        "the less utilised agent"
    );
    assert_ne!(
        auto["agent_id"],
        offline.to_string(),
        "offline agents are not auto-assigned"
    );

    let (_, avail) = p
        .call(
            Method::GET,
            "/api/v1/agents/available?role=onboarding_specialist&skills=integration_setup",
            Some(&p.admin),
            None,
        )
        .await?;
    let ids: Vec<&str> = avail
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["agent_id"].as_str())
        .collect();
    assert!(
        ids.contains(&busy.to_string().as_str()) && !ids.contains(&offline.to_string().as_str())
    );
    let (st, _) = p
        .call(
            Method::GET,
            "/api/v1/agents/available?role=wizard",
            Some(&p.admin),
            None,
        )
        .await?;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Ten assignments race for the six free slots left: exactly six succeed.
    let calls = (0..10).map(|_| assign(None, Uuid::new_v4()));
    let results = futures::future::join_all(calls).await;
    let ok = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|(s, _)| *s == StatusCode::CREATED))
        .count();
    let full = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|(s, _)| *s == StatusCode::CONFLICT))
        .count();
    assert_eq!((ok, full), (6, 4), "capacity 4 + 4 with 2 taken");
    for (id, t) in [(busy, &busy_t), (free, &free_t)] {
        let (st, w) = p
            .call(
                Method::GET,
                &format!("/api/v1/agents/{id}/workload"),
                Some(t),
                None,
            )
            .await?;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(w["active_assignments"], 4, "{w}");
        assert_eq!(w["available_capacity"], 0);
    }
    let (st, _) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{busy}/workload"),
            Some(&free_t),
            None,
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "another agent's workload is not visible"
    );
    let (_, log) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{busy}/activity"),
            Some(&busy_t),
            None,
        )
        .await?;
    assert!(
        log.as_array()
            .is_some_and(|l| l.iter().any(|e| e["action"] == "client_assigned"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assisted_account_is_assigned_to_its_creator_exactly_once() -> anyhow::Result<()> {
    let p = pair().await?;
    let (sales, sales_t) = p.agent(&["sales_agent"], 10, &[]).await?;
    p.online(sales, &sales_t).await?;
    // The sales agent creates an assisted account in org-auth (its tokens, its key).
    let token = p
        .org_auth
        .tokens
        .agent(Uuid::new_v4(), sales, &["sales_agent"]);
    let res = p
        .org_auth
        .http
        .post(p.org_auth.url("/api/v1/auth/assisted-signup"))
        .bearer_auth(&token)
        .header("x-agent-id", sales.to_string())
        .header("x-agent-permissions", r#"{"assisted_signup":["create"]}"#)
        .json(&json!({"client_email": format!("client.{}@acme.com", &Uuid::new_v4().simple().to_string()[..6]), "client_name": "Casey", "company_name": "Example Corp"}))
        .send()
        .await?;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let workload = loop {
        let (_, w) = p
            .call(
                Method::GET,
                &format!("/api/v1/agents/{sales}/workload"),
                Some(&sales_t),
                None,
            )
            .await?;
        if w["active_assignments"] == 1 {
            break w;
        }
        if tokio::time::Instant::now() > deadline {
            let sent: Vec<(String, Option<String>, i32)> =
                sqlx::query_as("SELECT event_type, sent_at::text, attempts FROM outbox")
                    .fetch_all(&p.org_auth.db.owner)
                    .await?;
            let handled: Vec<(String, String)> =
                sqlx::query_as("SELECT event_type, outcome FROM handled_events")
                    .fetch_all(&p.agents.db.owner)
                    .await?;
            panic!(
                "the client was never assigned: {w}; org-auth outbox {sent:?}; human-agent handled {handled:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(workload["assignments"][0]["client_id"], created["user_id"]);
    assert_eq!(workload["assignments"][0]["lifecycle_stage"], "sales");
    // Redelivery of the same event changes nothing.
    let env: Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE event_type = 'assisted_account_created'",
    )
    .fetch_one(&p.org_auth.db.owner)
    .await?;
    let producer = kit::events::Producer::new(&p.agents.shared.config.kafka)?;
    producer
        .send(
            &p.agents.shared.config.kafka.topic("auth_events"),
            "k",
            env.to_string().as_bytes(),
            &[],
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, w) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{sales}/workload"),
            Some(&sales_t),
            None,
        )
        .await?;
    assert_eq!(w["active_assignments"], 1, "exactly once under redelivery");
    let events: Vec<String> = sqlx::query_scalar("SELECT event_type FROM outbox")
        .fetch_all(&p.agents.db.owner)
        .await?;
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "client_assigned_to_agent")
            .count(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn handoff_rejected_reproposed_accepted_and_the_timeline_shows_it() -> anyhow::Result<()> {
    let p = pair().await?;
    let (sales, sales_t) = p.agent(&["sales_agent"], 10, &[]).await?;
    let (a, a_t) = p.agent(&["onboarding_specialist"], 10, &[]).await?;
    let (b, b_t) = p.agent(&["onboarding_specialist"], 10, &[]).await?;
    for (id, t) in [(sales, &sales_t), (a, &a_t), (b, &b_t)] {
        p.online(id, t).await?;
    }
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let (st, _) = p
        .call(Method::POST, "/api/v1/agents/assignments", Some(&p.admin), Some(json!({"client_id": client, "organization_id": org, "role_type": "sales_agent", "assignment_type": "manual", "agent_id": sales})))
        .await?;
    assert_eq!(st, StatusCode::CREATED);
    let body = |target: Option<Uuid>, from: &str, to: &str| {
        json!({"client_id": client, "organization_id": org, "from_role": from, "to_role": to, "handoff_type": "warm",
               "handoff_reason": "sales_completed", "target_agent_id": target,
               "context": {"current_stage": "nda_signed", "next_actions": ["Schedule kickoff"], "completed_items": [{"item": "NDA", "completed_at": "2026-11-20T10:00:00Z"}],
                           "client_preferences": {"timezone": "EST"}, "important_notes": "Prefers email"}})
    };
    for (b, why) in [
        (body(Some(a), "sales_agent", "sales_agent"), "same role"),
        (
            body(Some(sales), "sales_agent", "onboarding_specialist"),
            "to itself",
        ),
        (body(None, "sales_agent", "wizard"), "unknown role"),
    ] {
        let (st, res) = p
            .call(
                Method::POST,
                "/api/v1/agents/handoffs",
                Some(&sales_t),
                Some(b),
            )
            .await?;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {res}");
    }
    let (st, _) = p
        .call(
            Method::POST,
            "/api/v1/agents/handoffs",
            Some(&a_t),
            Some(body(None, "sales_agent", "onboarding_specialist")),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "only the agent holding the client hands it off"
    );

    let (st, h) = p
        .call(
            Method::POST,
            "/api/v1/agents/handoffs",
            Some(&sales_t),
            Some(body(Some(a), "sales_agent", "onboarding_specialist")),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{h}");
    assert_eq!(h["to_agent"]["agent_id"], a.to_string());
    assert_eq!(h["to_agent"]["status"], "pending_acceptance");
    let h1 = h["handoff_id"].as_str().unwrap_or_default().to_string();
    let decide = |id: &str, token: &str, b: Value| {
        let path = format!("/api/v1/agents/handoffs/{id}/accept");
        let token = token.to_string();
        let p = &p;
        async move { p.call(Method::POST, &path, Some(&token), Some(b)).await }
    };
    let (st, _) = decide(&h1, &b_t, json!({"action": "accept"})).await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "only the proposed agent decides");
    let (st, _) = decide(&h1, &a_t, json!({"action": "reject"})).await?;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a rejection needs a reason"
    );
    let (st, r) = decide(
        &h1,
        &a_t,
        json!({"action": "reject", "rejection_reason": "at capacity this week"}),
    )
    .await?;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["reassignment_queued"], true);
    assert_eq!(
        r["next_available_agent"]["agent_id"],
        b.to_string(),
        "the next available agent is proposed"
    );
    let (st, _) = decide(&h1, &a_t, json!({"action": "accept"})).await?;
    assert_eq!(st, StatusCode::CONFLICT, "decided once");

    let h2 = r["next_handoff_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Two accepts at once: one assignment.
    let (x, y) = tokio::join!(
        decide(&h2, &b_t, json!({"action": "accept"})),
        decide(&h2, &b_t, json!({"action": "accept"}))
    );
    let codes = [x?.0, y?.0];
    assert!(
        codes.contains(&StatusCode::OK) && codes.contains(&StatusCode::CONFLICT),
        "{codes:?}"
    );
    let (_, wb) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{b}/workload"),
            Some(&b_t),
            None,
        )
        .await?;
    assert_eq!(wb["active_assignments"], 1);
    let (_, ws) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{sales}/workload"),
            Some(&sales_t),
            None,
        )
        .await?;
    assert_eq!(
        ws["active_assignments"], 0,
        "the sales assignment was transferred"
    );

    let (st, tl) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/clients/{client}/timeline"),
            Some(&sales_t),
            None,
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{tl}");
    assert_eq!(tl["current_stage"], "onboarding");
    let stages: Vec<&str> = tl["lifecycle_timeline"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(stages, ["sales", "onboarding"]);
    assert_eq!(tl["lifecycle_timeline"][0]["status"], "transferred");
    let future: Vec<&str> = tl["future_stages"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(future, ["support", "success"]);
    // The client's own organisation sees it; another organisation gets 404.
    let mine = p.agents.tokens.client(client, org, "admin");
    assert_eq!(
        p.call(
            Method::GET,
            &format!("/api/v1/agents/clients/{client}/timeline"),
            Some(&mine),
            None
        )
        .await?
        .0,
        StatusCode::OK
    );
    let other = p
        .agents
        .tokens
        .client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    assert_eq!(
        p.call(
            Method::GET,
            &format!("/api/v1/agents/clients/{client}/timeline"),
            Some(&other),
            None
        )
        .await?
        .0,
        StatusCode::NOT_FOUND
    );

    let events: Vec<String> = sqlx::query_scalar("SELECT event_type FROM outbox")
        .fetch_all(&p.agents.db.owner)
        .await?;
    for e in ["handoff_initiated", "handoff_rejected", "handoff_accepted"] {
        assert!(events.iter().any(|x| x == e), "{e}");
    }
    assert_eq!(
        events.iter().filter(|e| *e == "handoff_accepted").count(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn specialist_invitations_have_limits_and_end_with_an_outcome() -> anyhow::Result<()> {
    let p = pair().await?;
    let (success, success_t) = p.agent(&["success_manager"], 10, &[]).await?;
    let (spec, spec_t) = p.agent(&["sales_specialist"], 10, &[]).await?;
    let (stranger, stranger_t) = p.agent(&["success_manager"], 10, &[]).await?;
    for (id, t) in [(success, &success_t), (spec, &spec_t)] {
        p.online(id, t).await?;
    }
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let (st, _) = p
        .call(Method::POST, "/api/v1/agents/assignments", Some(&p.admin), Some(json!({"client_id": client, "organization_id": org, "role_type": "success_manager", "assignment_type": "manual", "agent_id": success})))
        .await?;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = p
        .call(Method::POST, "/api/v1/agents/assignments", Some(&p.admin), Some(json!({"client_id": client, "organization_id": org, "role_type": "success_manager", "assignment_type": "manual", "agent_id": stranger})))
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "one agent per client and role");
    let invite = json!({"client_id": client, "organization_id": org, "invited_role": "sales_specialist", "invitation_reason": "upsell",
                        "opportunity_type": "voice_agent_addon", "estimated_value": 50000, "background": "Asked about phone support", "target_agent_id": spec});
    let (st, _) = p
        .call(
            Method::POST,
            "/api/v1/agents/invitations",
            Some(&stranger_t),
            Some(invite.clone()),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "only an agent serving the client invites"
    );
    let mut bad = invite.clone();
    bad["invitation_reason"] = json!("because");
    assert_eq!(
        p.call(
            Method::POST,
            "/api/v1/agents/invitations",
            Some(&success_t),
            Some(bad)
        )
        .await?
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (st, inv) = p
            .call(
                Method::POST,
                "/api/v1/agents/invitations",
                Some(&success_t),
                Some(invite.clone()),
            )
            .await?;
        assert_eq!(st, StatusCode::CREATED, "{inv}");
        ids.push(
            inv["invitation_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let (st, _) = p
        .call(
            Method::POST,
            "/api/v1/agents/invitations",
            Some(&success_t),
            Some(invite.clone()),
        )
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "at most 5 active per client");

    let respond = |id: &str, token: &str, b: Value| {
        let (path, token) = (
            format!("/api/v1/agents/invitations/{id}/accept"),
            token.to_string(),
        );
        let p = &p;
        async move { p.call(Method::POST, &path, Some(&token), Some(b)).await }
    };
    assert_eq!(
        respond(&ids[0], &success_t, json!({"action": "accept"}))
            .await?
            .0,
        StatusCode::FORBIDDEN
    );
    let (st, acc) = respond(&ids[0], &spec_t, json!({"action": "accept"})).await?;
    assert_eq!(st, StatusCode::OK, "{acc}");
    assert_eq!(
        respond(&ids[0], &spec_t, json!({"action": "reject"}))
            .await?
            .0,
        StatusCode::CONFLICT,
        "decided once"
    );
    assert_eq!(
        respond(&ids[1], &spec_t, json!({"action": "reject"}))
            .await?
            .0,
        StatusCode::OK
    );
    let (_, w) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{spec}/workload"),
            Some(&spec_t),
            None,
        )
        .await?;
    assert_eq!(
        w["active_assignments"], 1,
        "the specialist works beside the success manager"
    );
    let (st, done) = p
        .call(
            Method::POST,
            &format!("/api/v1/agents/invitations/{}/complete", ids[0]),
            Some(&spec_t),
            Some(json!({"outcome": {"deal_closed": true, "revenue": 50000}})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    let (_, w) = p
        .call(
            Method::GET,
            &format!("/api/v1/agents/{spec}/workload"),
            Some(&spec_t),
            None,
        )
        .await?;
    assert_eq!(w["active_assignments"], 0, "and leaves when done");
    // Two slots freed (one completed, one declined): two more invitations fit.
    for _ in 0..2 {
        assert_eq!(
            p.call(
                Method::POST,
                "/api/v1/agents/invitations",
                Some(&success_t),
                Some(invite.clone())
            )
            .await?
            .0,
            StatusCode::CREATED
        );
    }
    let events: Vec<String> = sqlx::query_scalar("SELECT event_type FROM outbox")
        .fetch_all(&p.agents.db.owner)
        .await?;
    assert_eq!(
        events.iter().filter(|e| *e == "specialist_invited").count(),
        7
    );
    Ok(())
}

#[tokio::test]
async fn grpc_api_for_peers() -> anyhow::Result<()> {
    use kit::contracts::workflow::human_agent::v1::{
        AssignRequest, GetAgentRequest, human_agent_client::HumanAgentClient,
    };
    use kit::tonic::{self, Request, metadata::MetadataValue};
    fn auth<T>(mut r: Request<T>) -> Request<T> {
        r.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {CRED}")).expect("ascii"),
        );
        r
    }
    let p = pair().await?;
    let (id, t) = p.agent(&["support_specialist"], 2, &["billing"]).await?;
    p.online(id, &t).await?;
    let channel = tonic::transport::Channel::from_shared(p.agents.grpc.clone())?
        .connect()
        .await?;
    let mut c = HumanAgentClient::new(channel);
    let denied = c
        .get_agent(GetAgentRequest {
            agent_id: id.to_string(),
        })
        .await;
    assert_eq!(
        denied.expect_err("no credential").code(),
        tonic::Code::Unauthenticated
    );
    let a = c
        .get_agent(auth(Request::new(GetAgentRequest {
            agent_id: id.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(a.primary_role, "support_specialist");
    let perms = c
        .get_permissions(auth(Request::new(GetAgentRequest {
            agent_id: id.to_string(),
        })))
        .await?
        .into_inner();
    assert!(perms.permissions_json.contains("support"));
    let missing = c
        .get_agent(auth(Request::new(GetAgentRequest {
            agent_id: Uuid::new_v4().to_string(),
        })))
        .await;
    assert_eq!(missing.expect_err("unknown").code(), tonic::Code::NotFound);
    let req = |skills: Vec<String>| AssignRequest {
        client_id: Uuid::new_v4().to_string(),
        organization_id: Uuid::new_v4().to_string(),
        role_type: "support_specialist".into(),
        agent_id: String::new(),
        required_skills: skills,
        language: String::new(),
    };
    let done = c
        .assign(auth(Request::new(req(vec!["billing".into()]))))
        .await?
        .into_inner();
    assert_eq!(done.agent_id, id.to_string());
    assert_eq!(done.lifecycle_stage, "support");
    let none = c
        .assign(auth(Request::new(req(vec!["kubernetes".into()]))))
        .await;
    assert_eq!(
        none.expect_err("no match").code(),
        tonic::Code::ResourceExhausted
    );
    Ok(())
}

#[tokio::test]
async fn an_agent_going_offline_passes_its_waiting_handoffs_on() -> anyhow::Result<()> {
    let p = pair().await?;
    let (on, on_t) = p.agent(&["onboarding_specialist"], 5, &[]).await?;
    let (c, c_t) = p.agent(&["support_specialist"], 5, &[]).await?;
    let (d, d_t) = p.agent(&["support_specialist"], 5, &[]).await?;
    for (id, t) in [(on, &on_t), (c, &c_t), (d, &d_t)] {
        p.online(id, t).await?;
    }
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let (st, _) = p
        .call(Method::POST, "/api/v1/agents/assignments", Some(&p.admin), Some(json!({"client_id": client, "organization_id": org, "role_type": "onboarding_specialist", "assignment_type": "manual", "agent_id": on})))
        .await?;
    assert_eq!(st, StatusCode::CREATED);
    let (st, h) = p
        .call(Method::POST, "/api/v1/agents/handoffs", Some(&on_t), Some(json!({"client_id": client, "organization_id": org, "from_role": "onboarding_specialist", "to_role": "support_specialist", "handoff_type": "standard", "context": {}, "target_agent_id": c})))
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{h}");
    let first: Uuid = h["handoff_id"].as_str().unwrap_or_default().parse()?;
    let queue = |agent: Uuid, token: String| {
        let p = &p;
        async move {
            let (st, w) = p
                .call(
                    Method::GET,
                    &format!("/api/v1/agents/{agent}/workload"),
                    Some(&token),
                    None,
                )
                .await?;
            assert_eq!(st, StatusCode::OK, "{w}");
            anyhow::Ok(w["queued_handoffs"].clone())
        }
    };
    assert_eq!(
        queue(c, c_t.clone()).await?,
        json!([first]),
        "waiting for c"
    );
    assert_eq!(queue(d, d_t.clone()).await?, json!([]));
    let (st, _) = p
        .call(
            Method::PATCH,
            &format!("/api/v1/agents/{c}/availability"),
            Some(&c_t),
            Some(json!({"status": "offline", "message": "Out sick"})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    let mut tx = kit::store::begin(&p.agents.db.app, kit::store::Scope::system()).await?;
    let old: String = sqlx::query_scalar("SELECT status FROM handoffs WHERE id = $1")
        .bind(first)
        .fetch_one(&mut *tx)
        .await?;
    let next: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT to_agent_id, status FROM handoffs WHERE previous_handoff_id = $1")
            .bind(first)
            .fetch_all(&mut *tx)
            .await?;
    assert_eq!(old, "rejected");
    assert_eq!(
        next,
        vec![(d, "pending".to_string())],
        "proposed to the other support specialist"
    );
    let moved: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM handoffs WHERE previous_handoff_id = $1")
            .bind(first)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    assert_eq!(
        queue(c, c_t).await?,
        json!([]),
        "nothing waits for c any more"
    );
    assert_eq!(
        queue(d, d_t).await?,
        json!(moved),
        "d's queue holds the moved handoff"
    );
    Ok(())
}

/// Routing reads presence from Redis (a contradicting Redis state wins until the record is
/// reconciled), and falls back to PostgreSQL when Redis has lost its state.
#[tokio::test]
async fn presence_is_served_from_redis_and_the_record_backs_it() -> anyhow::Result<()> {
    use kit::cache::redis;
    let p = pair().await?;
    let skill = format!("skill{}", &Uuid::new_v4().simple().to_string()[..8]);
    let (a, a_t) = p.agent(&["support_specialist"], 3, &[&skill]).await?;
    let listed = || async {
        let (st, b) = p
            .call(
                Method::GET,
                &format!("/api/v1/agents/available?role=support_specialist&skills={skill}"),
                Some(&p.admin),
                None,
            )
            .await?;
        assert_eq!(st, StatusCode::OK, "{b}");
        anyhow::Ok(
            b.as_array()
                .map(|v| v.iter().any(|x| x["agent_id"] == json!(a)))
                .unwrap_or(false),
        )
    };
    assert!(!listed().await?, "registered agents start offline");
    p.online(a, &a_t).await?;
    assert!(
        listed().await?,
        "online is visible as soon as the change is answered"
    );

    let key = |k: &str| p.redis_key(k);
    let mut conn = p.agents.shared.redis.get().await?;
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(key("presence:online"))
        .query_async(&mut conn)
        .await?;
    assert!(
        members.contains(&a.to_string()),
        "the online set holds the agent"
    );

    // Redis is what routing reads: with the agent removed there, it is not offered ...
    let _: i64 = redis::cmd("SREM")
        .arg(key("presence:online"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    assert!(!listed().await?);
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let auto = json!({"client_id": client, "organization_id": org, "role_type": "support_specialist", "required_skills": [skill]});
    let (st, _) = p
        .call(
            Method::POST,
            "/api/v1/agents/assignments",
            Some(&p.admin),
            Some(auto.clone()),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "auto-assignment reads the same presence"
    );
    // ... and without its state (a flushed Redis) the record answers.
    let _: i64 = redis::cmd("DEL")
        .arg(key("presence:warm"))
        .query_async(&mut conn)
        .await?;
    assert!(listed().await?);
    let (st, b) = p
        .call(
            Method::POST,
            "/api/v1/agents/assignments",
            Some(&p.admin),
            Some(auto),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["agent_id"], json!(a));

    // An older write reaching Redis late never overrides a newer one.
    p.online(a, &a_t).await?; // version n
    let held: i64 = redis::cmd("HGET")
        .arg(key("presence:version"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    let (st, _) = p
        .call(
            Method::PATCH,
            &format!("/api/v1/agents/{a}/availability"),
            Some(&a_t),
            Some(json!({"status": "away"})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    let status: String = redis::cmd("HGET")
        .arg(key("presence:status"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    assert_eq!(status, "away");
    let newer: i64 = redis::cmd("HGET")
        .arg(key("presence:version"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    assert!(newer > held);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervision_feed_shows_alerts_and_conversation_counts() -> anyhow::Result<()> {
    let p = pair().await?;
    let kafka = &p.agents.shared.config.kafka;
    let producer = kit::events::Producer::new(kafka)?;
    let org = Uuid::new_v4();
    let now = kit::now_rfc3339();
    let env = |event_type: &str, data: Value| {
        json!({"event_id": Uuid::now_v7().to_string(), "event_type": event_type, "source": "test", "occurred_at": now,
               "organization_id": org.to_string(), "subject_id": "", "trace_parent": "", "data": data})
    };
    let alerts = [
        ("critical", "voice_agent", "High error rate"),
        ("warning", "agent_orchestration", "Low confidence answers"),
        ("warning", "agent_orchestration", "Low confidence answers"),
    ];
    let mut first_alert = String::new();
    for (sev, service, issue) in alerts {
        let id = Uuid::new_v4().to_string();
        if first_alert.is_empty() {
            first_alert = id.clone();
        }
        let e = env(
            "ai_alert_raised",
            json!({"alert_id": id, "severity": sev, "ai_agent_type": "chatbot", "service": service,
            "client_id": Uuid::new_v4().to_string(), "organization_id": org.to_string(), "organization_name": "Acme",
            "issue": issue, "recommended_action": "Review the conversation", "detected_at": now}),
        );
        producer
            .send(
                &kafka.topic("monitoring_events"),
                &org.to_string(),
                e.to_string().as_bytes(),
                &[],
            )
            .await?;
    }
    for i in 0..4 {
        let cid = Uuid::new_v4().to_string();
        let e = env(
            "conversation_started",
            json!({"conversation_id": cid, "organization_id": org.to_string(), "ai_agent_type": "chatbot", "service": "agent_orchestration", "timestamp": now}),
        );
        producer
            .send(
                &kafka.topic("conversation_events"),
                &org.to_string(),
                e.to_string().as_bytes(),
                &[],
            )
            .await?;
        if i == 0 {
            let e = env(
                "conversation_escalated",
                json!({"conversation_id": cid, "organization_id": org.to_string(), "reason": "asked for a human", "timestamp": now}),
            );
            producer
                .send(
                    &kafka.topic("conversation_events"),
                    &org.to_string(),
                    e.to_string().as_bytes(),
                    &[],
                )
                .await?;
        }
    }
    let e = env(
        "ai_alert_resolved",
        json!({"alert_id": first_alert, "resolved_by": "someone", "timestamp": now}),
    );
    producer
        .send(
            &kafka.topic("monitoring_events"),
            &org.to_string(),
            e.to_string().as_bytes(),
            &[],
        )
        .await?;

    let supervisor = p
        .agents
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["ai_supervisor"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let feed = loop {
        let (st, f) = p
            .call(
                Method::GET,
                "/api/v1/agents/supervision/ai-activity?time_range=last_24h",
                Some(&supervisor),
                None,
            )
            .await?;
        assert_eq!(st, StatusCode::OK, "{f}");
        let d = &f["supervision_dashboard"];
        if d["total_ai_conversations"] == 4
            && d["quality_issues"] == 3
            && d["escalated_to_human"] == 1
            && d["requiring_attention"] == 2
        {
            break f;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed never caught up: {f}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        feed["top_issues"][0],
        json!({"issue": "Low confidence answers", "occurrences": 2})
    );
    let (_, critical) = p
        .call(
            Method::GET,
            "/api/v1/agents/supervision/ai-activity?alert_level=critical",
            Some(&supervisor),
            None,
        )
        .await?;
    assert_eq!(critical["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(critical["alerts"][0]["resolved"], true);
    let (_, voice) = p
        .call(
            Method::GET,
            "/api/v1/agents/supervision/ai-activity?service=voice_agent",
            Some(&supervisor),
            None,
        )
        .await?;
    assert_eq!(voice["supervision_dashboard"]["quality_issues"], 1);
    for q in ["time_range=forever", "alert_level=panic", "service=a;b"] {
        let (st, _) = p
            .call(
                Method::GET,
                &format!("/api/v1/agents/supervision/ai-activity?{q}"),
                Some(&supervisor),
                None,
            )
            .await?;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
    }
    let sales = p
        .agents
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["sales_agent"]);
    assert_eq!(
        p.call(
            Method::GET,
            "/api/v1/agents/supervision/ai-activity",
            Some(&sales),
            None
        )
        .await?
        .0,
        StatusCode::FORBIDDEN
    );
    Ok(())
}

/// The reconciler rebuilds presence from the record: after Redis lost it, and after drift.
#[tokio::test]
async fn the_reconciler_rebuilds_presence_from_the_record() -> anyhow::Result<()> {
    use kit::cache::redis;
    let p = pair_with(&[("HUMAN_AGENT_PRESENCE_RECONCILE_SECS", "1")]).await?;
    let (a, a_t) = p.agent(&["support_specialist"], 3, &[]).await?;
    p.online(a, &a_t).await?;
    let key = |k: &str| p.redis_key(k);
    let mut conn = p.agents.shared.redis.get().await?;
    let (online, warm, agent) = (key("presence:online"), key("presence:warm"), a.to_string());
    assert!(online_in_redis(&mut conn, &online, &warm, &agent).await?);
    for (what, keys) in [
        (
            "lost",
            vec![
                key("presence:online"),
                key("presence:status"),
                key("presence:version"),
                key("presence:warm"),
            ],
        ),
        ("drifted", vec![]),
    ] {
        if keys.is_empty() {
            let _: i64 = redis::cmd("SREM")
                .arg(key("presence:online"))
                .arg(a.to_string())
                .query_async(&mut conn)
                .await?;
        } else {
            let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
        }
        assert!(
            !online_in_redis(&mut conn, &online, &warm, &agent).await?,
            "{what}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !online_in_redis(&mut conn, &online, &warm, &agent).await? {
            assert!(
                std::time::Instant::now() < deadline,
                "{what} presence was not rebuilt"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn online_in_redis(
    conn: &mut kit::cache::Connection,
    online: &str,
    warm: &str,
    agent: &str,
) -> anyhow::Result<bool> {
    use kit::cache::redis;
    let (member, warm): (bool, bool) = redis::pipe()
        .sismember(online, agent)
        .exists(warm)
        .query_async(conn)
        .await?;
    Ok(member && warm)
}
