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
        .body(
            json!({"email": agent_email(), "full_name": "Sam Peterson",
                   "roles": ["sales_agent", "onboarding_specialist"],
                   "skills": ["b2b_saas", "enterprise_sales", "demo_presentation"],
                   "certifications": ["Salesforce_Certified"], "languages": ["english", "spanish"],
                   "permissions": {"assisted_signup": ["create", "read", "update"], "research_engine": ["read", "trigger"],
                                   "demo_generator": ["read", "create", "approve"], "prd_builder": ["read", "collaborate"],
                                   "client_management": ["read", "update", "transfer"]},
                   "max_capacity": 15}),
            "roles are role names; skills, certifications, languages and max_capacity are the agent's",
        )
        .reshaped(
            "roles",
            "the role names, the first the primary_role (no role ids)",
        )
        .absent(
            "current_workload",
            "answered by GET /api/v1/agents/{agent_id}/workload",
        )
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
        .patch(
            json!({"client_id": client, "organization_id": org, "context": null, "priority": null}),
        )
        .deviation("context and priority are not taken")
        .absent(
            "assigned_agent",
            "answered as agent_id and agent_name at the top level",
        )
        .run()
        .await;
    let handoff = r
        .example(Method::POST, "/api/v1/agents/handoffs")
        .auth(&sam_t)
        .patch(json!({"client_id": client, "organization_id": org}))
        .absent("context_summary", "not answered")
        .run()
        .await;
    let proposed = id(&handoff["to_agent"]["agent_id"]);
    let proposed_t = if proposed == rahul.id {
        &rahul.token
    } else {
        &maria.token
    };
    r.example(Method::POST, "/api/v1/agents/handoffs/{handoff_id}/accept")
        .param("handoff_id", s(&handoff["handoff_id"]))
        .auth(proposed_t)
        .patch(json!({"agent_id": null, "suggested_agent_id": null}))
        .deviation("agent_id and suggested_agent_id are not sent: the caller decides, the next agent is chosen")
        .response(1)
        .absent("rejected_by", "answered as decided_by, the agent's id")
        .absent("rejected_at", "answered as decided_at")
        .absent("rejection_reason", "kept, not echoed")
        .absent("next_available_agent.estimated_availability", "not answered")
        .run()
        .await;

    assert_eq!(
        p.assign(client, org, "success_manager", sarah.id).await?,
        StatusCode::CREATED
    );
    r.example(Method::POST, "/api/v1/agents/invitations")
        .auth(&sarah.token)
        .body(
            json!({"client_id": client, "organization_id": org, "invited_role": "sales_specialist",
                   "invitation_reason": "upsell", "opportunity_type": "voice_agent_addon", "estimated_value": 15000,
                   "background": "Client expressed interest in adding voice support to existing chatbot."}),
            "the context's fields are the request's own; the organisation is named; the role is sales_specialist",
        )
        .absent("invited_by", "the inviting agent is the caller")
        .absent("invited_agent", "answered as invited_agent_id")
        .absent("collaboration_mode", "not kept")
        .absent("estimated_value", "kept, not answered")
        .absent("created_at", "answered as invited_at")
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/{agent_id}/workload")
        .param("agent_id", sam_id)
        .auth(&sam_t)
        .reshaped(
            "active_assignments",
            "their count; the assignments themselves are `assignments`",
        )
        .absent(
            "workload",
            "max_capacity, available_capacity and utilization at the top level",
        )
        .absent("current_status", "answered as status")
        .absent("pending_items", "the waiting handoffs are queued_handoffs")
        .absent("full_name", "on the profile, GET /api/v1/agents/{agent_id}")
        .absent("primary_role", "on the profile")
        .absent("all_roles", "on the profile")
        .absent("performance", "no performance figures are kept yet")
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/available")
        .auth(&p.admin)
        .reshaped(
            "",
            "the list of available agents itself, without the totals around it",
        )
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/{agent_id}/permissions")
        .param("agent_id", sam_id)
        .auth(CRED)
        .absent("all_roles", "answered as roles")
        .absent("availability", "answered as presence")
        .absent("user_id", "the lookup answers the agent")
        .absent("capacity", "the workload answers it")
        .run()
        .await;
    r.example(Method::GET, "/api/v1/agents/clients/{client_id}/timeline")
        .param("client_id", client)
        .auth(&sam_t)
        .absent(
            "organization_name",
            "human-agent does not keep organisations' names",
        )
        .absent(
            "current_agent",
            "the in-progress entry of lifecycle_timeline names it",
        )
        .absent(
            "lifecycle_timeline[].agent",
            "answered as agent_id and agent_name",
        )
        .absent("lifecycle_timeline[].completed_items", "not kept yet")
        .absent("lifecycle_timeline[].handoff_quality_score", "not kept yet")
        .absent("lifecycle_timeline[].client_satisfaction", "not kept yet")
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
        .patch(json!({"status_message": null, "message": "In client meeting until 3 PM", "auto_assign": null}))
        .deviation("the message is `message`; auto_assign is changed with PATCH /api/v1/agents/{agent_id}")
        .absent("auto_assign_enabled", "on the profile, as auto_assign")
        .absent("updated_at", "not answered")
        .run()
        .await;
    for d in r.finish() {
        println!("deviation: {d}");
    }
    Ok(())
}
