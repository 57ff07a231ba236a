//! Specialist invitations: sent by an agent serving the client, at most five active per client,
//! accepted or declined once, completed with an outcome.
use crate::support::*;

/// A success manager serving a client, a sales specialist to invite, and a stranger.
struct Desk {
    p: Pair,
    success: (Uuid, String),
    spec: (Uuid, String),
    stranger: (Uuid, String),
    invite: Value,
}

async fn desk() -> anyhow::Result<Desk> {
    let p = pair().await?;
    let success = p.agent(&["success_manager"], 10, &[]).await?;
    let spec = p.agent(&["sales_specialist"], 10, &[]).await?;
    let stranger = p.agent(&["success_manager"], 10, &[]).await?;
    for (id, t) in [&success, &spec] {
        p.online(*id, t).await?;
    }
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let st = p.assign(client, org, "success_manager", success.0).await?;
    assert_eq!(st, StatusCode::CREATED);
    let invite = json!({"client_id": client, "organization_id": org, "invited_role": "sales_specialist", "invitation_reason": "upsell",
                        "opportunity_type": "voice_agent_addon", "estimated_value": 50000, "background": "Asked about phone support", "target_agent_id": spec.0});
    Ok(Desk {
        p,
        success,
        spec,
        stranger,
        invite,
    })
}

impl Desk {
    async fn send(&self, token: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        Ok(self
            .p
            .post("/api/v1/agents/invitations")
            .bearer(token)
            .json(body)
            .send()
            .await?
            .parts())
    }

    /// Five invitations from the success manager: their ids.
    async fn five(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        for _ in 0..5 {
            let (st, inv) = self.send(&self.success.1, &self.invite).await?;
            assert_eq!(st, StatusCode::CREATED, "{inv}");
            ids.push(s(&inv["invitation_id"]));
        }
        Ok(ids)
    }

    async fn respond(&self, id: &str, token: &str, b: Value) -> anyhow::Result<StatusCode> {
        Ok(self
            .p
            .post(&format!("/api/v1/agents/invitations/{id}/accept"))
            .bearer(token)
            .json(b)
            .send()
            .await?
            .status)
    }
}

#[tokio::test]
async fn only_an_agent_serving_the_client_invites_and_at_most_five_are_active() -> anyhow::Result<()>
{
    let d = desk().await?;
    let p = &d.p;
    let client = d.invite["client_id"].as_str().unwrap_or_default().parse()?;
    let org = d.invite["organization_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    let st = p
        .assign(client, org, "success_manager", d.stranger.0)
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "one agent per client and role");
    let (st, _) = d.send(&d.stranger.1, &d.invite).await?;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "only an agent serving the client invites"
    );
    let mut bad = d.invite.clone();
    bad["invitation_reason"] = json!("because");
    assert_eq!(
        d.send(&d.success.1, &bad).await?.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    d.five().await?;
    let (st, _) = d.send(&d.success.1, &d.invite).await?;
    assert_eq!(st, StatusCode::CONFLICT, "at most 5 active per client");
    Ok(())
}

#[tokio::test]
async fn the_invited_specialist_decides_once_works_beside_and_leaves_with_an_outcome()
-> anyhow::Result<()> {
    let d = desk().await?;
    let (p, spec, spec_t) = (&d.p, d.spec.0, d.spec.1.as_str());
    let ids = d.five().await?;
    assert_eq!(
        d.respond(&ids[0], &d.success.1, json!({"action": "accept"}))
            .await?,
        StatusCode::NOT_FOUND,
        "an invitation addressed to another does not exist for the caller"
    );
    let (st, acc) = p
        .post(&format!("/api/v1/agents/invitations/{}/accept", ids[0]))
        .bearer(spec_t)
        .json(json!({"action": "accept"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{acc}");
    assert_eq!(
        d.respond(&ids[0], spec_t, json!({"action": "reject"}))
            .await?,
        StatusCode::CONFLICT,
        "decided once"
    );
    assert_eq!(
        d.respond(&ids[1], spec_t, json!({"action": "reject"}))
            .await?,
        StatusCode::OK
    );
    let w = p.workload(spec, spec_t).await?;
    assert_eq!(
        w["workload"]["active_clients"], 1,
        "the specialist works beside the success manager"
    );
    let (st, done) = p
        .post(&format!("/api/v1/agents/invitations/{}/complete", ids[0]))
        .bearer(spec_t)
        .json(json!({"outcome": {"deal_closed": true, "revenue": 50000}}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    let w = p.workload(spec, spec_t).await?;
    assert_eq!(w["workload"]["active_clients"], 0, "and leaves when done");
    // Two slots freed (one completed, one declined): two more invitations fit.
    for _ in 0..2 {
        assert_eq!(
            d.send(&d.success.1, &d.invite).await?.0,
            StatusCode::CREATED
        );
    }
    let events = p.outbox_types().await?;
    assert_eq!(
        events.iter().filter(|e| *e == "specialist_invited").count(),
        7
    );
    Ok(())
}

#[tokio::test]
async fn a_spec_shaped_invitation_goes_to_the_specialist_with_the_skill_and_the_lighter_load()
-> anyhow::Result<()> {
    let p = pair().await?;
    let success = p.register(&["success_manager"], 10, &[]).await?;
    // Registered first (the lower id): the one an ordering by id alone would pick.
    let plain = p.register(&["sales_specialist"], 10, &[]).await?;
    let busy_voice = p.register(&["sales_specialist"], 4, &["voice"]).await?;
    let voice = p.register(&["sales_specialist"], 10, &["voice"]).await?;
    for a in [&success, &plain, &busy_voice, &voice] {
        p.online(a.id, &a.token).await?;
    }
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    for (c, a) in [(client, &success), (Uuid::new_v4(), &busy_voice)] {
        let role = if a.id == success.id {
            "success_manager"
        } else {
            "sales_specialist"
        };
        assert_eq!(p.assign(c, org, role, a.id).await?, StatusCode::CREATED);
    }
    let body = json!({"client_id": client, "invited_by_agent_id": success.id, "invited_role": "sales_specialist_voice",
                      "invitation_reason": "upsell_opportunity", "target_agent_id": null, "collaboration_mode": "consult_only",
                      "context": {"opportunity_type": "voice_agent_addon", "estimated_value": 15000, "urgency": "medium",
                                  "background": "Asked about phone support"}});
    let inv = p
        .post("/api/v1/agents/invitations")
        .bearer(&success.token)
        .json(&body)
        .expect(201)
        .await;
    assert_eq!(
        inv["invited_agent"]["agent_id"],
        json!(voice.id),
        "the voice skill first, then the lighter load: {inv}"
    );
    assert_eq!(inv["invited_agent"]["role_type"], "sales_specialist_voice");
    assert_eq!(inv["invited_agent"]["status"], "pending_acceptance");
    assert_eq!(inv["invited_by"]["agent_id"], json!(success.id));
    assert_eq!(inv["invited_by"]["role_type"], "success_manager");
    assert_eq!(
        inv["organization_id"],
        json!(org),
        "the inviter's organisation"
    );
    assert_eq!(inv["estimated_value"], 15000.0);
    assert_eq!(inv["collaboration_mode"], "consult_only");
    // Another agent's id as the inviter is refused, naming the field.
    let (st, refused) = p
        .post("/api/v1/agents/invitations")
        .bearer(&plain.token)
        .json(&body)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(s(&refused["detail"]).starts_with("invited_by_agent_id"));
    // A consultation takes no slot of the specialist's capacity.
    let accepted = p
        .post(&format!(
            "/api/v1/agents/invitations/{}/accept",
            s(&inv["invitation_id"])
        ))
        .bearer(&voice.token)
        .json(json!({"action": "accept"}))
        .expect(200)
        .await;
    assert_eq!(accepted["status"], "accepted");
    let w = p.workload(voice.id, &voice.token).await?;
    assert_eq!(w["workload"]["active_clients"], 0, "{w}");
    Ok(())
}
