//! Tenants stay apart: forced RLS on every tenant table, and every id-taking operation of the
//! OpenAPI document refuses another organisation's client, and another agent, their records.
use testkit::Probe;

use crate::support::*;

#[tokio::test]
async fn every_tenant_table_forces_row_level_security_and_the_app_role_owns_none() {
    // Agent profiles are platform records, without an organization_id, and forced too.
    testkit::assert_forced_rls(&human_agent::SERVICE, &["agent_profiles"]).await;
}

/// Organisation B's client, served by B's agents: a sales agent holding it, a pending handoff
/// to an onboarding specialist, a pending specialist invitation.
struct TenantB {
    org: Uuid,
    client: Uuid,
    sales: Registered,
    handoff: Uuid,
    invitation: Uuid,
    secrets: Vec<String>,
}

async fn tenant_b(p: &Pair) -> anyhow::Result<TenantB> {
    let sales = p.register(&["sales_agent"], 10, &[]).await?;
    let onboarding = p.register(&["onboarding_specialist"], 10, &[]).await?;
    let success = p.register(&["success_manager"], 10, &[]).await?;
    let specialist = p.register(&["sales_specialist"], 10, &[]).await?;
    for a in [&sales, &onboarding, &success, &specialist] {
        p.online(a.id, &a.token).await?;
    }
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    for (role, a) in [("sales_agent", &sales), ("success_manager", &success)] {
        assert_eq!(
            p.assign(client, org, role, a.id).await?,
            StatusCode::CREATED
        );
    }
    let note = testkit::unique("note-of-b");
    let handoff = p
        .post("/api/v1/agents/handoffs")
        .bearer(&sales.token)
        .json(json!({"client_id": client, "organization_id": org, "from_role": "sales_agent", "to_role": "onboarding_specialist",
                     "handoff_type": "warm", "handoff_reason": "sales_completed", "target_agent_id": onboarding.id,
                     "context": {"current_stage": "nda_signed", "important_notes": note}}))
        .expect(201)
        .await;
    let background = testkit::unique("background-of-b");
    let invitation = p
        .post("/api/v1/agents/invitations")
        .bearer(&success.token)
        .json(json!({"client_id": client, "organization_id": org, "invited_role": "sales_specialist", "invitation_reason": "upsell",
                     "opportunity_type": "voice_agent_addon", "estimated_value": 50000, "background": background, "target_agent_id": specialist.id}))
        .expect(201)
        .await;
    let secrets = vec![
        org.to_string(),
        client.to_string(),
        note,
        background,
        sales.email.clone(),
        onboarding.email.clone(),
        onboarding.id.to_string(),
        success.id.to_string(),
        specialist.id.to_string(),
    ];
    Ok(TenantB {
        org,
        client,
        sales,
        handoff: id(&handoff["handoff_id"]),
        invitation: id(&invitation["invitation_id"]),
        secrets,
    })
}

const PERMISSIONS: &str = "/api/v1/agents/{agent_id}/permissions";

fn probe<'a>(p: &'a Pair, b: &TenantB, caller: &str) -> Probe<'a> {
    let mut probe = Probe::new(p, caller)
        .id("agent_id", b.sales.id)
        .id("client_id", b.client)
        .id("handoff_id", b.handoff)
        .id("invitation_id", b.invitation)
        .body(
            Method::PATCH,
            "/api/v1/agents/{agent_id}",
            json!({"max_capacity": 1}),
        )
        .body(
            Method::PATCH,
            "/api/v1/agents/{agent_id}/availability",
            json!({"status": "offline"}),
        )
        .body(
            Method::POST,
            "/api/v1/agents/handoffs/{handoff_id}/accept",
            json!({"action": "accept"}),
        )
        .body(
            Method::POST,
            "/api/v1/agents/invitations/{invitation_id}/accept",
            json!({"action": "accept"}),
        )
        .body(
            Method::POST,
            "/api/v1/agents/invitations/{invitation_id}/complete",
            json!({"outcome": {"deal_closed": true}}),
        )
        .allow(
            Method::GET,
            PERMISSIONS,
            401,
            "only the gateway's service credential is taken, whoever the agent",
        );
    for s in &b.secrets {
        probe = probe.secret(s);
    }
    probe
}

#[tokio::test]
async fn another_organisations_client_reaches_nothing_through_any_id_taking_operation()
-> anyhow::Result<()> {
    let p = pair().await?;
    let b = tenant_b(&p).await?;
    let a_client = p.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "admin");
    let report = probe(&p, &b, &a_client).run().await;
    assert!(report.probed.len() >= 10, "{report}");
    // B's own client does see its timeline (so the probe's 404 is about the tenant).
    let b_client = p.tokens.client(b.client, b.org, "admin");
    p.get(&format!("/api/v1/agents/clients/{}/timeline", b.client))
        .bearer(&b_client)
        .expect(200)
        .await;
    Ok(())
}

#[tokio::test]
async fn an_agent_reaches_nothing_of_another_agents_work_through_any_id_taking_operation()
-> anyhow::Result<()> {
    let p = pair().await?;
    let b = tenant_b(&p).await?;
    let a = p.register(&["sales_agent"], 10, &[]).await?;
    let probe = probe(&p, &b, &a.token)
        .skip(
            Method::GET,
            "/api/v1/agents/{agent_id}",
            "every agent reads a colleague's profile (the staff directory)",
        )
        .skip(
            Method::GET,
            "/api/v1/agents/clients/{client_id}/timeline",
            "agents work across organisations: any agent reads a client's timeline",
        );
    // Another agent's handoff or invitation answers exactly as an id that does not exist.
    let report = probe.run().await;
    assert!(report.probed.len() >= 8, "{report}");
    Ok(())
}
