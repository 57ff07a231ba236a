//! What agents see of assisted accounts follows human-agent's assignments (`agent_events`):
//! a sales agent sees the accounts assigned to it, not those handed on; and the platform
//! admins are mailed the accounts that expire unclaimed.
use std::time::Duration;

use crate::support::*;
use crate::user_admin::agent_login;

const LIST: &str = "/api/v1/auth/assisted-accounts?limit=100";

fn sales_permissions() -> Value {
    json!({"assisted_signup": ["create", "read", "update"]})
}

impl OrgAuth {
    /// Publishes one of human-agent's events about `client` in `org`, as it does.
    async fn publish_agent_event(
        &self,
        org: Uuid,
        client: Uuid,
        kind: &str,
        data: Value,
    ) -> anyhow::Result<()> {
        let kafka = &self.shared.config.kafka;
        let env = json!({"event_id": Uuid::now_v7().to_string(), "event_type": kind,
            "source": "human-agent", "occurred_at": kit::now_rfc3339(), "organization_id": org.to_string(),
            "subject_id": client.to_string(), "trace_parent": "", "data": data});
        kit::events::Producer::new(kafka)?
            .send(
                &kafka.topic("agent_events"),
                &org.to_string(),
                env.to_string().as_bytes(),
                &[],
            )
            .await?;
        Ok(())
    }

    async fn listed(&self, who: &Auth) -> anyhow::Result<Vec<Uuid>> {
        let list = self.get(LIST).auth(who).expect(200).await;
        Ok(list["accounts"]
            .as_array()
            .map(|a| a.iter().map(|x| uuid(&x["user_id"])).collect())
            .unwrap_or_default())
    }
}

#[tokio::test]
async fn a_sales_agent_sees_the_accounts_assigned_to_it_and_not_those_handed_on()
-> anyhow::Result<()> {
    let t = svc().await?;
    let first = t.agent(&["sales_agent"], Some(sales_permissions()));
    let second = t.agent(&["sales_agent"], Some(sales_permissions()));
    let created = t
        .post("/api/v1/auth/assisted-signup")
        .auth(&first.auth)
        .json(assisted_body(&email("client")))
        .expect(201)
        .await;
    let (client, org) = (uuid(&created["user_id"]), uuid(&created["organization_id"]));
    // Before human-agent's assignment arrives, the creator has it (it is assigned it first).
    assert_eq!(t.listed(&first.auth).await?, vec![client]);
    assert!(t.listed(&second.auth).await?.is_empty());
    t.get(&format!("/api/v1/auth/assisted-accounts/{client}"))
        .auth(&second.auth)
        .expect_problem(404)
        .await;

    // Human-agent assigns it to its creator, then a handoff moves it to the second agent.
    let handoff = Uuid::now_v7();
    let events = [
        (
            "client_assigned_to_agent",
            json!({"assignment_id": Uuid::now_v7().to_string(), "client_id": client.to_string(),
            "agent_id": first.agent_id.to_string(), "role_type": "sales_agent"}),
        ),
        (
            "handoff_initiated",
            json!({"handoff_id": handoff.to_string(), "client_id": client.to_string(),
            "from_agent_id": first.agent_id.to_string(), "to_agent_id": second.agent_id.to_string(),
            "from_role": "sales_agent", "to_role": "sales_agent"}),
        ),
        (
            "client_assigned_to_agent",
            json!({"assignment_id": Uuid::now_v7().to_string(), "client_id": client.to_string(),
            "agent_id": second.agent_id.to_string(), "role_type": "sales_agent"}),
        ),
        (
            "handoff_accepted",
            json!({"handoff_id": handoff.to_string(), "client_id": client.to_string(),
            "accepted_by_agent_id": second.agent_id.to_string()}),
        ),
    ];
    for (kind, data) in events {
        t.publish_agent_event(org, client, kind, data).await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !t.listed(&first.auth).await?.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the handoff did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(t.listed(&second.auth).await?, vec![client]);
    t.get(&format!("/api/v1/auth/assisted-accounts/{client}"))
        .auth(&second.auth)
        .expect(200)
        .await;
    t.get(&format!("/api/v1/auth/assisted-accounts/{client}"))
        .auth(&first.auth)
        .expect_problem(404)
        .await;
    // Asking for another agent's accounts changes nothing for a sales agent.
    let theirs = t
        .get(&format!("{LIST}&agent_id={}", second.agent_id))
        .auth(&first.auth)
        .expect(200)
        .await;
    assert_eq!(theirs["pagination"]["total_accounts"], 0);
    // A platform admin filters by the assigned agent.
    let pa = t.agent(&["platform_admin"], None);
    let by_second = t
        .get(&format!("{LIST}&agent_id={}", second.agent_id))
        .auth(&pa.auth)
        .expect(200)
        .await;
    assert_eq!(by_second["pagination"]["total_accounts"], 1);
    let by_first = t
        .get(&format!("{LIST}&agent_id={}", first.agent_id))
        .auth(&pa.auth)
        .expect(200)
        .await;
    assert_eq!(by_first["pagination"]["total_accounts"], 0);
    Ok(())
}

#[tokio::test]
async fn the_platform_admins_are_mailed_the_accounts_that_expired_unclaimed() -> anyhow::Result<()>
{
    let t = svc_with(&[("ORG_AUTH_EXPIRY_SWEEP_SECS", "1")], "203.0.113.72").await?;
    let (_, _, admin_mail) = agent_login(&t, "platform_admin").await?;
    let (_, _, sales_mail) = agent_login(&t, "sales_agent").await?;
    let (_, demoted_agent, demoted_mail) = agent_login(&t, "platform_admin").await?;
    // Human-agent has since taken the admin role from this one.
    let mut tx = t.system_tx().await?;
    sqlx::query("INSERT INTO agent_roles (agent_id, primary_role, roles, is_active, version) VALUES ($1, 'sales_agent', ARRAY['sales_agent'], true, 2)")
        .bind(demoted_agent)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let pa = t.agent(&["platform_admin"], None);
    let created = t
        .post("/api/v1/auth/assisted-signup")
        .auth(&pa.auth)
        .json(assisted_body(&email("late")))
        .expect(201)
        .await;
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "UPDATE assisted_accounts SET expires_at = now() - interval '1 minute' WHERE user_id = $1",
    )
    .bind(uuid(&created["user_id"]))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let subject = "1 assisted account(s) expired unclaimed";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while t.mailbox().count_with_subject_prefix(&admin_mail, subject) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no notice reached the platform admin"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let notice = t.mailbox().newest_with_subject(&admin_mail, subject);
    assert!(notice.text.contains("Example Corp"), "{}", notice.text);
    tokio::time::sleep(Duration::from_millis(1500)).await; // another sweep: no second notice
    assert_eq!(
        t.mailbox().count_with_subject_prefix(&admin_mail, subject),
        1
    );
    assert_eq!(
        t.mailbox().all(&sales_mail).len(),
        0,
        "not a platform admin"
    );
    assert_eq!(
        t.mailbox().all(&demoted_mail).len(),
        0,
        "no longer a platform admin"
    );
    Ok(())
}
