//! Handoffs between agents: proposed, rejected and re-proposed, accepted once; the client's
//! timeline; waiting handoffs passed on when their agent goes offline.
use crate::support::*;

/// A sales agent holding a client, and two onboarding specialists, all online.
struct Desk {
    p: Pair,
    sales: (Uuid, String),
    a: (Uuid, String),
    b: (Uuid, String),
    org: Uuid,
    client: Uuid,
}

async fn desk() -> anyhow::Result<Desk> {
    let p = pair().await?;
    let sales = p.agent(&["sales_agent"], 10, &[]).await?;
    let a = p.agent(&["onboarding_specialist"], 10, &[]).await?;
    let b = p.agent(&["onboarding_specialist"], 10, &[]).await?;
    for (id, t) in [&sales, &a, &b] {
        p.online(*id, t).await?;
    }
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let st = p.assign(client, org, "sales_agent", sales.0).await?;
    assert_eq!(st, StatusCode::CREATED);
    Ok(Desk {
        p,
        sales,
        a,
        b,
        org,
        client,
    })
}

impl Desk {
    fn body(&self, target: Option<Uuid>, from: &str, to: &str) -> Value {
        json!({"client_id": self.client, "organization_id": self.org, "from_role": from, "to_role": to, "handoff_type": "warm",
               "handoff_reason": "sales_completed", "target_agent_id": target,
               "context": {"current_stage": "nda_signed", "next_actions": ["Schedule kickoff"], "completed_items": [{"item": "NDA", "completed_at": "2026-11-20T10:00:00Z"}],
                           "client_preferences": {"timezone": "EST"}, "important_notes": "Prefers email"}})
    }

    /// The sales agent hands the client to `a`: the handoff.
    async fn hand_to_a(&self) -> anyhow::Result<(StatusCode, Value)> {
        Ok(self
            .p
            .post("/api/v1/agents/handoffs")
            .bearer(&self.sales.1)
            .json(self.body(Some(self.a.0), "sales_agent", "onboarding_specialist"))
            .send()
            .await?
            .parts())
    }

    async fn decide(&self, id: &str, token: &str, b: Value) -> anyhow::Result<(StatusCode, Value)> {
        Ok(self
            .p
            .post(&format!("/api/v1/agents/handoffs/{id}/accept"))
            .bearer(token)
            .json(b)
            .send()
            .await?
            .parts())
    }
}

#[tokio::test]
async fn a_handoff_needs_another_known_role_and_comes_from_the_agent_holding_the_client()
-> anyhow::Result<()> {
    let d = desk().await?;
    let (p, sales, a) = (&d.p, d.sales.0, d.a.0);
    for (b, why) in [
        (d.body(Some(a), "sales_agent", "sales_agent"), "same role"),
        (
            d.body(Some(sales), "sales_agent", "onboarding_specialist"),
            "to itself",
        ),
        (d.body(None, "sales_agent", "wizard"), "unknown role"),
    ] {
        let (st, res) = p
            .post("/api/v1/agents/handoffs")
            .bearer(&d.sales.1)
            .json(b)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {res}");
    }
    let (st, _) = p
        .post("/api/v1/agents/handoffs")
        .bearer(&d.a.1)
        .json(d.body(None, "sales_agent", "onboarding_specialist"))
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "only the agent holding the client hands it off"
    );
    Ok(())
}

#[tokio::test]
async fn a_rejected_handoff_is_proposed_to_the_next_agent_and_each_is_decided_once()
-> anyhow::Result<()> {
    let d = desk().await?;
    let (p, a_t, b_t) = (&d.p, d.a.1.as_str(), d.b.1.as_str());
    let (st, h) = d.hand_to_a().await?;
    assert_eq!(st, StatusCode::CREATED, "{h}");
    assert_eq!(h["to_agent"]["agent_id"], d.a.0.to_string());
    assert_eq!(h["to_agent"]["status"], "pending_acceptance");
    let h1 = s(&h["handoff_id"]);
    let (st, _) = d.decide(&h1, b_t, json!({"action": "accept"})).await?;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "only the proposed agent decides; to another it does not exist"
    );
    let (st, _) = d.decide(&h1, a_t, json!({"action": "reject"})).await?;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a rejection needs a reason"
    );
    let (st, r) = d
        .decide(
            &h1,
            a_t,
            json!({"action": "reject", "rejection_reason": "at capacity this week"}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["reassignment_queued"], true);
    assert_eq!(
        r["next_available_agent"]["agent_id"],
        d.b.0.to_string(),
        "the next available agent is proposed"
    );
    let (st, _) = d.decide(&h1, a_t, json!({"action": "accept"})).await?;
    assert_eq!(st, StatusCode::CONFLICT, "decided once");

    let h2 = s(&r["next_handoff_id"]);
    // Two accepts at once: one assignment.
    let (x, y) = tokio::join!(
        d.decide(&h2, b_t, json!({"action": "accept"})),
        d.decide(&h2, b_t, json!({"action": "accept"}))
    );
    let codes = [x?.0, y?.0];
    assert!(
        codes.contains(&StatusCode::OK) && codes.contains(&StatusCode::CONFLICT),
        "{codes:?}"
    );
    let wb = p.workload(d.b.0, b_t).await?;
    assert_eq!(wb["workload"]["active_clients"], 1);
    let ws = p.workload(d.sales.0, &d.sales.1).await?;
    assert_eq!(
        ws["workload"]["active_clients"], 0,
        "the sales assignment was transferred"
    );

    let events = p.outbox_types().await?;
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
async fn the_timeline_shows_the_stages_so_far_and_to_come_to_agents_and_the_clients_organisation()
-> anyhow::Result<()> {
    let d = desk().await?;
    let (p, client) = (&d.p, d.client);
    let (_, h) = d.hand_to_a().await?;
    let (st, done) = d
        .decide(&s(&h["handoff_id"]), &d.a.1, json!({"action": "accept"}))
        .await?;
    assert_eq!(st, StatusCode::OK, "{done}");
    let timeline = format!("/api/v1/agents/clients/{client}/timeline");
    let (st, tl) = p.get(&timeline).bearer(&d.sales.1).send().await?.parts();
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
    let mine = p.tokens.client(client, d.org, "admin");
    assert_eq!(
        p.get(&timeline).bearer(&mine).send().await?.status,
        StatusCode::OK
    );
    let other = p.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    assert_eq!(
        p.get(&timeline).bearer(&other).send().await?.status,
        StatusCode::NOT_FOUND
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
    let st = p.assign(client, org, "onboarding_specialist", on).await?;
    assert_eq!(st, StatusCode::CREATED);
    let (st, h) = p
        .post("/api/v1/agents/handoffs")
        .bearer(&on_t)
        .json(json!({"client_id": client, "organization_id": org, "from_role": "onboarding_specialist", "to_role": "support_specialist", "handoff_type": "standard", "context": {}, "target_agent_id": c}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED, "{h}");
    let first = id(&h["handoff_id"]);
    let queue = |agent: Uuid, token: String| {
        let p = &p;
        async move {
            let (st, w) = p
                .get(&format!("/api/v1/agents/{agent}/workload"))
                .bearer(&token)
                .send()
                .await?
                .parts();
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
        .patch(&format!("/api/v1/agents/{c}/availability"))
        .bearer(&c_t)
        .json(json!({"status": "offline", "status_message": "Out sick"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    let mut tx = p.system_tx().await?;
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

/// A client with a login in org-auth (signed up), so that notices can reach it.
async fn signed_up_client(p: &Pair) -> anyhow::Result<(Uuid, String)> {
    let email = testkit::unique_email("client");
    let r = p
        .org_auth
        .post("/api/v1/auth/signup")
        .json(json!({"email": email, "password": "Correct-Horse-Battery-9!", "full_name": "Jane Doe", "company_name": "Teddy Corp"}))
        .expect(201)
        .await;
    Ok((id(&r["user_id"]), email))
}

#[tokio::test]
async fn an_accepted_handoff_names_its_agent_and_is_mailed_to_the_client_and_the_previous_agent()
-> anyhow::Result<()> {
    let p = pair().await?;
    let sales = p.register(&["sales_agent"], 10, &[]).await?;
    let onb = p.register(&["onboarding_specialist"], 10, &[]).await?;
    for a in [&sales, &onb] {
        p.online(a.id, &a.token).await?;
    }
    let (client, client_email) = signed_up_client(&p).await?;
    let org = Uuid::new_v4();
    assert_eq!(
        p.assign(client, org, "sales_agent", sales.id).await?,
        StatusCode::CREATED
    );
    let h = p
        .post("/api/v1/agents/handoffs")
        .bearer(&sales.token)
        .json(json!({"client_id": client, "organization_id": org, "from_role": "sales_agent", "to_role": "onboarding_specialist",
                     "handoff_type": "warm", "context": {"current_stage": "nda_signed", "next_actions": ["setup_integrations", "configure_workflows"],
                     "completed_items": [{"item": "research", "completed_at": "2026-10-05T11:00:00Z"}], "important_notes": "CTO is Jane"}}))
        .expect(201)
        .await;
    assert_eq!(
        h["context_summary"],
        json!({"stage": "nda_signed", "next_actions_count": 2, "notes_count": 1})
    );
    let by_other = json!({"action": "accept", "agent_id": sales.id});
    let (st, refused) = p
        .post(&format!(
            "/api/v1/agents/handoffs/{}/accept",
            s(&h["handoff_id"])
        ))
        .bearer(&onb.token)
        .json(by_other)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let done = p
        .post(&format!("/api/v1/agents/handoffs/{}/accept", s(&h["handoff_id"])))
        .bearer(&onb.token)
        .json(json!({"action": "accept", "agent_id": onb.id, "acceptance_notes": "Will reach out within 24 hours.",
                     "estimated_completion": "2030-10-24T14:00:00Z"}))
        .expect(200)
        .await;
    assert_eq!(done["accepted_by"]["agent_id"], json!(onb.id));
    assert_eq!(done["accepted_by"]["role_type"], "onboarding_specialist");
    assert_eq!(done["client_notification_sent"], true, "{done}");
    assert_eq!(done["previous_agent_notified"], true, "{done}");
    let mail = p.mailbox();
    assert_eq!(mail.newest(&client_email).subject, "Your new contact");
    assert_eq!(mail.newest(&sales.email).subject, "Handoff accepted");
    // The receiver's estimate is its assignment's expected completion; the handed-over next
    // action is its next action.
    let w = p.workload(onb.id, &onb.token).await?;
    let row = &w["active_assignments"][0];
    assert_eq!(row["expected_completion"], "2030-10-24T14:00:00Z", "{w}");
    assert_eq!(row["next_action"], "setup_integrations");
    // The timeline names the current agent and what the sales stage completed.
    let tl = p
        .get(&format!("/api/v1/agents/clients/{client}/timeline"))
        .bearer(&sales.token)
        .expect(200)
        .await;
    assert_eq!(tl["current_agent"]["agent_id"], json!(onb.id));
    assert_eq!(
        tl["lifecycle_timeline"][0]["completed_items"],
        json!(["research"])
    );
    assert_eq!(
        tl["future_stages"][0]["expected_start"],
        "2030-10-24T14:00:00Z"
    );
    Ok(())
}

#[tokio::test]
async fn the_activity_log_records_who_initiated_a_handoff() -> anyhow::Result<()> {
    let d = desk().await?;
    let (st, h) = d.hand_to_a().await?;
    assert_eq!(st, StatusCode::CREATED, "{h}");
    let profile =
        d.p.get(&format!("/api/v1/agents/{}", d.sales.0))
            .bearer(&d.sales.1)
            .expect(200)
            .await;
    let log =
        d.p.get(&format!("/api/v1/agents/{}/activity", d.sales.0))
            .bearer(&d.sales.1)
            .expect(200)
            .await;
    let entry = log
        .as_array()
        .and_then(|l| l.iter().find(|e| e["action"] == "handoff_initiated"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["actor_id"], profile["user_id"], "{log}");
    Ok(())
}

#[tokio::test]
async fn another_agents_handoff_answers_exactly_like_a_missing_one() -> anyhow::Result<()> {
    let d = desk().await?;
    let (_, h) = d.hand_to_a().await?;
    let body = json!({"action": "accept"});
    let (theirs, a) = d.decide(&s(&h["handoff_id"]), &d.b.1, body.clone()).await?;
    let (missing, b) = d.decide(&Uuid::new_v4().to_string(), &d.b.1, body).await?;
    assert_eq!(
        (theirs, missing),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!((&a["type"], &a["detail"]), (&b["type"], &b["detail"]));
    Ok(())
}
