//! Assigning clients to agents: manual and automatic (least utilised, online, capacity safe
//! under concurrency), and assisted accounts assigned to their creator exactly once.
use std::time::Duration;

use crate::support::*;

/// Three onboarding specialists with the same skill: two online (capacity 4), one offline.
struct Specialists {
    p: Pair,
    busy: (Uuid, String),
    free: (Uuid, String),
    offline: Uuid,
    org: Uuid,
}

async fn specialists() -> anyhow::Result<Specialists> {
    let p = pair().await?;
    let busy = p
        .agent(&["onboarding_specialist"], 4, &["integration_setup"])
        .await?;
    let free = p
        .agent(&["onboarding_specialist"], 4, &["integration_setup"])
        .await?;
    let (offline, _) = p
        .agent(&["onboarding_specialist"], 50, &["integration_setup"])
        .await?;
    p.online(busy.0, &busy.1).await?;
    p.online(free.0, &free.1).await?;
    Ok(Specialists {
        p,
        busy,
        free,
        offline,
        org: Uuid::new_v4(),
    })
}

impl Specialists {
    /// Assigns a new client, to `agent` or automatically.
    async fn assign(&self, agent: Option<Uuid>) -> anyhow::Result<(StatusCode, Value)> {
        let mut b = json!({"client_id": Uuid::new_v4(), "organization_id": self.org, "role_type": "onboarding_specialist", "required_skills": ["integration_setup"]});
        if let Some(a) = agent {
            b["assignment_type"] = json!("manual");
            b["agent_id"] = json!(a);
        }
        Ok(self
            .p
            .post("/api/v1/agents/assignments")
            .bearer(&self.p.admin)
            .json(b)
            .send()
            .await?
            .parts())
    }
}

#[tokio::test]
async fn automatic_assignment_prefers_the_least_utilised_online_agent() -> anyhow::Result<()> {
    let x = specialists().await?;
    let (p, busy, free, offline) = (&x.p, x.busy.0, x.free.0, x.offline);
    let (st, first) = x.assign(Some(busy)).await?;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    assert!(first["sla"]["first_contact_deadline"].is_string());
    let (st, auto) = x.assign(None).await?;
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
        .get("/api/v1/agents/available?role=onboarding_specialist&skills=integration_setup")
        .bearer(&p.admin)
        .send()
        .await?
        .parts();
    let ids: Vec<&str> = avail["available_agents"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["agent_id"].as_str())
        .collect();
    assert!(
        ids.contains(&busy.to_string().as_str()) && !ids.contains(&offline.to_string().as_str())
    );
    let (st, _) = p
        .get("/api/v1/agents/available?role=wizard")
        .bearer(&p.admin)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

#[tokio::test]
async fn concurrent_assignments_never_exceed_an_agents_capacity() -> anyhow::Result<()> {
    let x = specialists().await?;
    let p = &x.p;
    x.assign(Some(x.busy.0)).await?;
    x.assign(None).await?;
    // Ten assignments race for the six free slots left: exactly six succeed.
    let calls = (0..10).map(|_| x.assign(None));
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
    for (id, t) in [&x.busy, &x.free] {
        let (st, w) = p
            .get(&format!("/api/v1/agents/{id}/workload"))
            .bearer(t)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::OK);
        assert_eq!(w["workload"]["active_clients"], 4, "{w}");
        assert_eq!(w["available_capacity"], 0);
    }
    let (st, _) = p
        .get(&format!("/api/v1/agents/{}/workload", x.busy.0))
        .bearer(&x.free.1)
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "another agent's workload is not visible"
    );
    let (_, log) = p
        .get(&format!("/api/v1/agents/{}/activity", x.busy.0))
        .bearer(&x.busy.1)
        .send()
        .await?
        .parts();
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
        .post("/api/v1/auth/assisted-signup")
        .auth(
            Auth::bearer(&token)
                .header("x-agent-id", sales.to_string())
                .header("x-agent-permissions", r#"{"assisted_signup":["create"]}"#),
        )
        .json(json!({"client_email": testkit::unique_email("client"), "client_name": "Casey", "company_name": "Example Corp"}))
        .send()
        .await?;
    assert_eq!(res.status, 201);
    let created = res.body;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let workload = loop {
        let w = p.workload(sales, &sales_t).await?;
        if w["workload"]["active_clients"] == 1 {
            break w;
        }
        if tokio::time::Instant::now() > deadline {
            let sent: Vec<(String, Option<String>, i32)> =
                sqlx::query_as("SELECT event_type, sent_at::text, attempts FROM outbox")
                    .fetch_all(&p.org_auth.db().owner)
                    .await?;
            let handled: Vec<(String, String)> =
                sqlx::query_as("SELECT event_type, outcome FROM handled_events")
                    .fetch_all(&p.db().owner)
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
    .fetch_one(&p.org_auth.db().owner)
    .await?;
    let producer = kit::events::Producer::new(&p.shared.config.kafka)?;
    producer
        .send(
            &p.shared.config.kafka.topic("auth_events"),
            "k",
            env.to_string().as_bytes(),
            &[],
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let w = p.workload(sales, &sales_t).await?;
    assert_eq!(
        w["workload"]["active_clients"], 1,
        "exactly once under redelivery"
    );
    let events = p.outbox_types().await?;
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
async fn an_assignment_keeps_its_priority_and_context_names_its_agent_and_who_assigned_it()
-> anyhow::Result<()> {
    let p = pair().await?;
    let a = p.register(&["sales_agent"], 5, &[]).await?;
    p.online(a.id, &a.token).await?;
    let admin_user = Uuid::new_v4();
    let admin = p
        .tokens
        .agent(admin_user, Uuid::new_v4(), &["platform_admin"]);
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let done = p
        .post("/api/v1/agents/assignments")
        .bearer(&admin)
        .json(json!({"client_id": client, "organization_id": org, "role_type": "sales_agent", "assignment_type": "manual",
                     "agent_id": a.id, "assignment_reason": "new_assisted_signup", "priority": "high",
                     "context": {"company_name": "Teddy Corp", "industry": "e-commerce", "notes": "Support automation"}}))
        .expect(201)
        .await;
    assert_eq!(done["assigned_agent"]["agent_id"], json!(a.id));
    assert_eq!(done["assigned_agent"]["contact_email"], json!(a.email));
    assert_eq!(done["assigned_agent"]["role_type"], "sales_agent");
    assert_eq!(done["priority"], "high");
    let w = p.workload(a.id, &a.token).await?;
    let row = &w["active_assignments"][0];
    assert_eq!(row["client_name"], "Teddy Corp", "{w}");
    assert_eq!(row["priority"], "high");
    assert_eq!(row["sla_status"], "on_track");
    assert_eq!(row["next_action"], "first_contact");
    assert_eq!(w["workload"]["utilization_percent"], 20);
    assert_eq!(w["all_roles"], json!(["sales_agent"]));
    let log = p
        .get(&format!("/api/v1/agents/{}/activity", a.id))
        .bearer(&a.token)
        .expect(200)
        .await;
    let entry = log
        .as_array()
        .and_then(|l| l.iter().find(|e| e["action"] == "client_assigned"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["actor_id"], json!(admin_user), "who assigned: {log}");
    Ok(())
}

#[tokio::test]
async fn the_available_agents_answer_the_skills_they_match_and_the_totals_in_the_order_asked()
-> anyhow::Result<()> {
    let p = pair().await?;
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let (one, two) = (format!("a{tag}"), format!("b{tag}"));
    let both = p.register(&["sales_agent"], 10, &[&one, &two]).await?;
    let single = p.register(&["sales_agent"], 4, &[&one]).await?;
    for a in [&both, &single] {
        p.online(a.id, &a.token).await?;
    }
    let st = p
        .assign(Uuid::new_v4(), Uuid::new_v4(), "sales_agent", both.id)
        .await?;
    assert_eq!(st, StatusCode::CREATED);
    let list = |sort: &'static str| {
        let p = &p;
        let q = format!(
            "/api/v1/agents/available?role_type=sales_agent&skills={one},{two}&sort_by={sort}"
        );
        async move { anyhow::Ok(p.get(&q).bearer(&p.admin).expect(200).await) }
    };
    let ids = |b: &Value| -> Vec<Value> {
        b["available_agents"]
            .as_array()
            .map(|v| v.iter().map(|a| a["agent_id"].clone()).collect())
            .unwrap_or_default()
    };
    let by_workload = list("workload_asc").await?;
    assert_eq!(
        ids(&by_workload),
        [json!(single.id), json!(both.id)],
        "{by_workload}"
    );
    assert_eq!(
        by_workload["available_agents"][0]["skills_match"],
        json!([one])
    );
    assert_eq!(
        by_workload["available_agents"][1]["skills_match"],
        json!([one, two])
    );
    assert_eq!(by_workload["available_agents"][1]["current_workload"], 1);
    assert_eq!(by_workload["total_available"], 2);
    assert_eq!(by_workload["total_capacity"], 9 + 4);
    assert_eq!(by_workload["role_type"], "sales_agent");
    let by_match = list("skills_match_desc").await?;
    assert_eq!(ids(&by_match), [json!(both.id), json!(single.id)]);
    Ok(())
}
