//! The specification's HTTP examples of service 0.5, replayed in the order of the journey they
//! describe (register → assign → hand off → invite a specialist → workload, presence, lookups).
use testkit::examples::Replay;

use crate::support::*;

#[tokio::test]
async fn the_specifications_examples_answer_as_documented() -> anyhow::Result<()> {
    let p = pair().await?;
    let mut r = Replay::new(&p, "0.5");

    let sam = r
        .example(Method::POST, "/api/v1/agents")
        .auth(&p.admin)
        .patch(json!({"email": agent_email()}))
        .run()
        .await;
    let sam_id = id(&sam["agent_id"]);
    let sam_t = p.tokens.agent(
        id(&sam["user_id"]),
        sam_id,
        &["sales_agent", "onboarding_specialist"],
    );
    p.online(sam_id, &sam_t).await?;
    let rahul = p.register(&["onboarding_specialist"], 10, &[]).await?;
    let maria = p.register(&["onboarding_specialist"], 10, &[]).await?;
    let sarah = p.register(&["success_manager"], 10, &[]).await?;
    let mike = p.register(&["sales_specialist"], 10, &[]).await?;
    for a in [&rahul, &maria, &sarah, &mike] {
        p.online(a.id, &a.token).await?;
    }

    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    r.example(Method::POST, "/api/v1/agents/assignments")
        .auth(&p.admin)
        .patch(json!({"client_id": client, "organization_id": org}))
        .run()
        .await;
    let handoff = r
        .example(Method::POST, "/api/v1/agents/handoffs")
        .auth(&sam_t)
        .patch(json!({"client_id": client, "organization_id": org}))
        .run()
        .await;
    let proposed = id(&handoff["to_agent"]["agent_id"]);
    let (first, other) = if proposed == rahul.id {
        (&rahul, &maria)
    } else {
        (&maria, &rahul)
    };
    let rejected = r
        .example(Method::POST, "/api/v1/agents/handoffs/{handoff_id}/accept")
        .param("handoff_id", s(&handoff["handoff_id"]))
        .auth(&first.token)
        .patch(json!({"agent_id": first.id, "suggested_agent_id": other.id}))
        .response(1)
        .run()
        .await;
    r.example(Method::POST, "/api/v1/agents/handoffs/{handoff_id}/accept")
        .param("handoff_id", s(&rejected["next_handoff_id"]))
        .auth(&other.token)
        .body(
            json!({"action": "accept", "agent_id": other.id, "estimated_completion": "2030-10-24T14:00:00Z",
                   "acceptance_notes": "Reviewed context. Ready to start onboarding."}),
            "the specification's accept body (the example's request is its reject body)",
        )
        .run()
        .await;

    assert_eq!(
        p.assign(client, org, "success_manager", sarah.id).await?,
        StatusCode::CREATED
    );
    r.example(Method::POST, "/api/v1/agents/invitations")
        .auth(&sarah.token)
        .patch(json!({"client_id": client, "invited_by_agent_id": sarah.id}))
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/{agent_id}/workload")
        .param("agent_id", sam_id)
        .auth(&sam_t)
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/available")
        .auth(&p.admin)
        .query("role_type", "sales_agent")
        .query("sort_by", "workload_asc")
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/{agent_id}/permissions")
        .param("agent_id", sam_id)
        .auth(CRED)
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/clients/{client_id}/timeline")
        .param("client_id", client)
        .auth(&sam_t)
        .run()
        .await;
    let supervisor = p
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["ai_supervisor"]);
    r.example(Method::GET, "/api/v1/agents/supervision/ai-activity")
        .auth(&supervisor)
        .run()
        .await;
    r.example(Method::PATCH, "/api/v1/agents/{agent_id}/availability")
        .param("agent_id", sam_id)
        .auth(&sam_t)
        .run()
        .await;
    for d in r.finish() {
        println!("deviation: {d}");
    }
    Ok(())
}
