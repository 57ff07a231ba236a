//! Platform-admin approval of assisted accounts: a sales agent's account waits — no claim mail,
//! no claim, no temporary access — until a platform admin approves it; a rejection disables it;
//! a platform admin's own is approved at once.
use crate::support::*;

const SIGNUP: &str = "/api/v1/auth/assisted-signup";
const LIST: &str = "/api/v1/auth/assisted-accounts";

/// Approves the account of a signup answer `created` as the platform admin `admin`.
pub async fn approve(t: &OrgAuth, admin: &Agent, created: &Value) -> Value {
    t.post(&decision(created, "approve"))
        .auth(&admin.auth)
        .json(json!({"notes": "Known lead"}))
        .expect(200)
        .await
}

/// The path of the account of `created` followed by `/what`.
fn decision(created: &Value, what: &str) -> String {
    format!("{LIST}/{}/{what}", s(&created["user_id"]))
}

fn sales(t: &OrgAuth) -> Agent {
    t.agent(
        &["sales_agent"],
        Some(json!({"assisted_signup": ["create", "read", "update"]})),
    )
}

async fn created_by(t: &OrgAuth, agent: &Agent, client: &str) -> Value {
    t.post(SIGNUP)
        .auth(&agent.auth)
        .json(assisted_body(client))
        .expect(201)
        .await
}

fn user_of(t: &OrgAuth, agent: &Agent) -> anyhow::Result<Uuid> {
    Ok(t.tokens.verifier.verify_now(&agent.token)?.user_id)
}

/// Temporary access to the account of `created`, as `agent` asks for it: the answer.
async fn access(t: &OrgAuth, agent: &Agent, created: &Value, status: u16) -> Value {
    let body = json!({"reason": "demo prep", "duration_hours": 2});
    let call = t
        .post(&decision(created, "access"))
        .auth(&agent.auth)
        .json(body);
    if status == 200 {
        call.expect(200).await
    } else {
        call.expect_problem(status).await
    }
}

fn claim_body(created: &Value) -> Value {
    json!({"claim_token": created["claim_token"], "password": "Claimed-Pass-55", "accept_terms": true})
}

fn is(problem: &Value, slug: &str) -> bool {
    s(&problem["type"]).ends_with(slug)
}

/// The audit entries of `action` about `user`: (actor, metadata).
async fn audited(
    t: &OrgAuth,
    action: &str,
    user: &Value,
) -> anyhow::Result<Vec<(Option<Uuid>, Value)>> {
    Ok(sqlx::query_as(
        "SELECT actor_id, metadata FROM audit_logs WHERE action = $1 AND user_id = $2",
    )
    .bind(action)
    .bind(uuid(user))
    .fetch_all(&mut *t.system_tx().await?)
    .await?)
}

#[tokio::test]
async fn a_sales_agents_account_waits_for_approval_before_its_claim_mail_claim_and_access()
-> anyhow::Result<()> {
    let t = svc().await?;
    let (agent, admin) = (sales(&t), t.agent(&["platform_admin"], None));
    let client = email("casey");
    let created = created_by(&t, &agent, &client).await;
    assert_eq!(created["approval_status"], "pending");
    assert_eq!(created["account_status"], "assisted_unclaimed");
    assert!(s(&created["claim_url"]).ends_with(&s(&created["claim_token"])));
    assert!(
        created["temporary_access_token"].is_null(),
        "no temporary access before the approval: {created}"
    );
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM access_grants WHERE user_id = $1")
        .bind(uuid(&created["user_id"]))
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(grants, 0, "no grant recorded either");
    assert!(t.mailbox().all(&client).is_empty(), "no claim mail yet");
    let refused = t
        .post("/api/v1/auth/claim-account")
        .json(claim_body(&created))
        .expect_problem(403)
        .await;
    assert!(is(&refused, "approval-pending"), "{refused}");
    let event = t
        .assert_outbox_once("assisted_account_created", &s(&created["user_id"]))
        .await;
    assert_eq!(event.data["approval_status"], "pending");

    let approved = approve(&t, &admin, &created).await;
    assert_eq!(approved["approval_status"], "approved");
    assert_eq!(approved["decided_by"], user_of(&t, &admin)?.to_string());
    assert_eq!(approved["notes"], "Known lead");
    let temp = s(&access(&t, &agent, &created, 200).await["temporary_access_token"]);
    let org = s(&created["organization_id"]);
    t.get(&format!("/api/v1/organizations/{org}"))
        .bearer(&temp)
        .expect(200)
        .await;
    let mails = t.mailbox().all(&client);
    assert_eq!(mails.len(), 1, "one claim mail, after the approval");
    assert!(mails[0].text.contains(&s(&created["claim_token"])));
    let entries = audited(&t, "assisted_account_approved", &created["user_id"]).await?;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, Some(user_of(&t, &admin)?), "the approver");
    assert_eq!(entries[0].1["notes"], "Known lead");
    t.assert_outbox_once("assisted_account_approved", &s(&created["user_id"]))
        .await;
    let got = t
        .get(&format!("{LIST}/{}", s(&created["user_id"])))
        .auth(&agent.auth)
        .expect(200)
        .await;
    assert_eq!(got["approval_status"], "approved");
    t.post("/api/v1/auth/claim-account")
        .json(claim_body(&created))
        .expect(200)
        .await;
    Ok(())
}

#[tokio::test]
async fn a_pending_account_gets_no_new_claim_link_and_no_temporary_access() -> anyhow::Result<()> {
    let t = svc().await?;
    let agent = sales(&t);
    let created = created_by(&t, &agent, &email("casey")).await;
    let one = format!("{LIST}/{}", s(&created["user_id"]));
    let refused = t
        .post(&format!("{one}/resend-claim"))
        .auth(&agent.auth)
        .json(json!({}))
        .expect_problem(403)
        .await;
    assert!(is(&refused, "approval-pending"), "{refused}");
    let refused = access(&t, &agent, &created, 403).await;
    assert!(is(&refused, "approval-pending"), "{refused}");
    approve(&t, &t.agent(&["platform_admin"], None), &created).await;
    let temp = s(&access(&t, &agent, &created, 200).await["temporary_access_token"]);
    t.get("/api/v1/auth/me").bearer(&temp).expect(200).await;
    Ok(())
}

#[tokio::test]
async fn a_rejected_account_is_disabled_and_never_claimed_resent_or_accessed() -> anyhow::Result<()>
{
    let t = svc().await?;
    let (agent, admin) = (sales(&t), t.agent(&["platform_admin"], None));
    let client = email("casey");
    let created = created_by(&t, &agent, &client).await;
    let rejected = t
        .post(&decision(&created, "reject"))
        .auth(&admin.auth)
        .json(json!({"reason": "Not a real lead"}))
        .expect(200)
        .await;
    assert_eq!(rejected["approval_status"], "rejected");
    assert_eq!(rejected["reason"], "Not a real lead");
    assert_eq!(rejected["decided_by"], user_of(&t, &admin)?.to_string());
    let event = t
        .assert_outbox_once("assisted_account_rejected", &s(&created["user_id"]))
        .await;
    assert_eq!(event.data["reason"], "Not a real lead");
    let refused = access(&t, &agent, &created, 409).await;
    assert!(is(&refused, "assisted-account-closed"), "{refused}");
    let refused = t
        .post(&decision(&created, "resend-claim"))
        .auth(&agent.auth)
        .json(json!({}))
        .expect_problem(409)
        .await;
    assert!(is(&refused, "assisted-account-closed"), "{refused}");
    let status: String = sqlx::query_scalar("SELECT account_status FROM users WHERE id = $1")
        .bind(uuid(&created["user_id"]))
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(status, "suspended", "disabled");
    t.post("/api/v1/auth/claim-account")
        .json(claim_body(&created))
        .expect_problem(400)
        .await;
    let entries = audited(&t, "assisted_account_rejected", &created["user_id"]).await?;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, Some(user_of(&t, &admin)?));
    assert_eq!(entries[0].1["reason"], "Not a real lead");
    assert!(t.mailbox().all(&client).is_empty(), "no claim mail, ever");
    Ok(())
}

#[tokio::test]
async fn a_second_decision_is_a_conflict() -> anyhow::Result<()> {
    let t = svc().await?;
    let (agent, admin) = (sales(&t), t.agent(&["platform_admin"], None));
    let first = created_by(&t, &agent, &email("one")).await;
    approve(&t, &admin, &first).await;
    let reason = json!({"reason": "Changed my mind"});
    for (what, body) in [("approve", json!({})), ("reject", reason.clone())] {
        let refused = t
            .post(&decision(&first, what))
            .auth(&admin.auth)
            .json(body)
            .expect_problem(409)
            .await;
        assert!(is(&refused, "approval-decided"), "{what}: {refused}");
    }
    let second = created_by(&t, &agent, &email("two")).await;
    t.post(&decision(&second, "reject"))
        .auth(&admin.auth)
        .json(reason.clone())
        .expect(200)
        .await;
    for (what, body) in [("approve", json!({})), ("reject", reason)] {
        t.post(&decision(&second, what))
            .auth(&admin.auth)
            .json(body)
            .expect_problem(409)
            .await;
    }
    Ok(())
}

#[tokio::test]
async fn only_a_platform_admin_decides_and_bad_bodies_name_the_field() -> anyhow::Result<()> {
    let t = svc().await?;
    let (agent, admin) = (sales(&t), t.agent(&["platform_admin"], None));
    let created = created_by(&t, &agent, &email("casey")).await;
    let client = t.org_admin(&email("cli"), "Client Org").await?.2;
    // A platform admin's temporary access acts as the client's admin, not as a platform admin.
    let own = created_by(&t, &admin, &email("own")).await;
    let temp = s(&own["temporary_access_token"]);
    for (what, body) in [
        ("approve", json!({})),
        ("reject", json!({"reason": "No thanks"})),
    ] {
        let path = decision(&created, what);
        for who in [&agent.auth, &sales(&t).auth] {
            t.post(&path)
                .auth(who)
                .json(body.clone())
                .expect_problem(403)
                .await;
        }
        t.post(&path)
            .bearer(&client)
            .json(body.clone())
            .expect_problem(403)
            .await;
        t.post(&path)
            .bearer(&temp)
            .json(body.clone())
            .expect_problem(403)
            .await;
    }
    // Nor does anyone but an agent allowed to read assisted accounts see the queue.
    let queue = format!("{LIST}?approval_status=pending");
    let support = t.agent(&["support_specialist"], None);
    t.get(&queue).auth(&support.auth).expect_problem(403).await;
    for token in [&client, &temp] {
        t.get(&queue).bearer(token).expect_problem(403).await;
    }
    let reject = decision(&created, "reject");
    for body in [
        json!({}),
        json!({"reason": "no"}),
        json!({"reason": "x".repeat(1001)}),
    ] {
        let bad = t
            .post(&reject)
            .auth(&admin.auth)
            .json(body.clone())
            .expect_problem(422)
            .await;
        assert!(bad.to_string().contains("reason"), "{body}: {bad}");
    }
    let bad = t
        .post(&decision(&created, "approve"))
        .auth(&admin.auth)
        .json(json!({"approved": true}))
        .expect_problem(422)
        .await;
    assert!(bad.to_string().contains("approved"), "{bad}");
    let got = t
        .get(&format!("{LIST}/{}", s(&created["user_id"])))
        .auth(&admin.auth)
        .expect(200)
        .await;
    assert_eq!(got["approval_status"], "pending", "nothing was decided");
    Ok(())
}

#[tokio::test]
async fn unknown_ids_and_other_tenants_users_get_404() -> anyhow::Result<()> {
    let t = svc().await?;
    let admin = t.agent(&["platform_admin"], None);
    let (_, other_user, _) = t.org_admin(&email("other"), "Other Org").await?;
    for id in [Uuid::now_v7(), other_user] {
        let account = json!({"user_id": id.to_string()});
        for (what, body) in [
            ("approve", json!({})),
            ("reject", json!({"reason": "No thanks"})),
        ] {
            t.post(&decision(&account, what))
                .auth(&admin.auth)
                .json(body)
                .expect_problem(404)
                .await;
        }
    }
    t.post(&format!("{LIST}/not-a-uuid/approve"))
        .auth(&admin.auth)
        .json(json!({}))
        .expect_problem(400)
        .await;
    // Another sales agent neither sees nor finds the pending account in its queue.
    let (agent, other) = (sales(&t), sales(&t));
    let created = created_by(&t, &agent, &email("casey")).await;
    let queue = t
        .get(&format!("{LIST}?approval_status=pending"))
        .auth(&other.auth)
        .expect(200)
        .await;
    assert_eq!(queue["pagination"]["total_accounts"], 0, "{queue}");
    t.get(&format!("{LIST}/{}", s(&created["user_id"])))
        .auth(&other.auth)
        .expect_problem(404)
        .await;
    Ok(())
}

#[tokio::test]
async fn a_platform_admins_own_account_is_approved_at_once() -> anyhow::Result<()> {
    let t = svc().await?;
    let admin = t.agent(&["platform_admin"], None);
    let client = email("casey");
    let created = created_by(&t, &admin, &client).await;
    assert_eq!(created["approval_status"], "approved");
    let temp = s(&created["temporary_access_token"]);
    assert!(temp.starts_with("temp_"), "{created}");
    t.get("/api/v1/auth/me").bearer(&temp).expect(200).await;
    assert_eq!(t.mailbox().all(&client).len(), 1, "the claim mail went out");
    let got = t
        .get(&format!("{LIST}/{}", s(&created["user_id"])))
        .auth(&admin.auth)
        .expect(200)
        .await;
    assert_eq!(got["approval_decided_by"], user_of(&t, &admin)?.to_string());
    assert!(got["approval_decided_at"].is_string(), "{got}");
    t.post(&decision(&created, "approve"))
        .auth(&admin.auth)
        .json(json!({}))
        .expect_problem(409)
        .await;
    Ok(())
}

#[tokio::test]
async fn with_automatic_approval_a_sales_agents_account_is_approved_by_nobody() -> anyhow::Result<()>
{
    let t = svc_with(&[("ORG_AUTH_ASSISTED_APPROVAL", "auto")], "203.0.113.61").await?;
    let agent = sales(&t);
    let client = email("casey");
    let created = created_by(&t, &agent, &client).await;
    assert_eq!(created["approval_status"], "approved");
    let temp = s(&created["temporary_access_token"]);
    t.get("/api/v1/auth/me").bearer(&temp).expect(200).await;
    assert_eq!(t.mailbox().all(&client).len(), 1);
    let got = t
        .get(&format!("{LIST}/{}", s(&created["user_id"])))
        .auth(&agent.auth)
        .expect(200)
        .await;
    assert!(got["approval_decided_by"].is_null(), "{got}");
    Ok(())
}

#[tokio::test]
async fn the_queue_filters_by_approval_and_pages_by_limit_and_offset() -> anyhow::Result<()> {
    let t = svc().await?;
    let (agent, admin) = (sales(&t), t.agent(&["platform_admin"], None));
    let mut pending = Vec::new();
    for n in 0..3 {
        pending.push(created_by(&t, &agent, &email(&format!("p{n}"))).await);
    }
    approve(&t, &admin, &pending[0]).await;
    created_by(&t, &admin, &email("own")).await;
    let queue = t
        .get(&format!(
            "{LIST}?approval_status=pending&limit=1&offset=1&sort_by=created_at&order=asc"
        ))
        .auth(&admin.auth)
        .expect(200)
        .await;
    assert_eq!(queue["pagination"]["total_accounts"], 2, "{queue}");
    assert_eq!(queue["pagination"]["offset"], 1);
    assert_eq!(queue["pagination"]["current_page"], 2);
    assert_eq!(queue["accounts"].as_array().map(Vec::len), Some(1));
    assert_eq!(queue["accounts"][0]["user_id"], pending[2]["user_id"]);
    assert_eq!(queue["accounts"][0]["approval_status"], "pending");
    let approved = t
        .get(&format!("{LIST}?approval_status=approved"))
        .auth(&admin.auth)
        .expect(200)
        .await;
    assert_eq!(approved["pagination"]["total_accounts"], 2, "{approved}");
    let all = t.get(LIST).auth(&admin.auth).expect(200).await;
    assert_eq!(all["pagination"]["total_accounts"], 4);
    for q in [
        "approval_status=waiting",
        "offset=-1",
        "offset=x",
        "page=2&offset=5",
    ] {
        let bad = t
            .get(&format!("{LIST}?{q}"))
            .auth(&admin.auth)
            .expect_problem(422)
            .await;
        let field = if q.starts_with("approval") {
            "approval_status"
        } else {
            "offset"
        };
        assert!(bad.to_string().contains(field), "{q}: {bad}");
    }
    Ok(())
}
