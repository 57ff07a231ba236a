//! Assisted accounts: created by agents for a client, read and listed by their creator and
//! platform admins, temporary access, claim links resent and claimed once, reminders and expiry.
//! (A sales agent's account is approved by a platform admin first: `assisted_approval`.)
use std::time::Duration;

use crate::{assisted_approval::approve, support::*};

const SIGNUP: &str = "/api/v1/auth/assisted-signup";

/// Agents as the gateway presents them, a client, and one account created by `sales` and
/// approved by `admin`.
struct Desk {
    t: OrgAuth,
    sales: Agent,
    other_sales: Agent,
    admin: Agent,
    client: String,
    client_email: String,
    created: Value,
}

impl Desk {
    fn one(&self) -> String {
        format!(
            "/api/v1/auth/assisted-accounts/{}",
            s(&self.created["user_id"])
        )
    }
}

fn full() -> Value {
    json!({"assisted_signup": ["create", "read", "update"]})
}

/// A sales agent with a login here (as human-agent creates them), named `name`, holding every
/// assisted-signup permission.
pub async fn named_agent(t: &OrgAuth, name: &str) -> anyhow::Result<Agent> {
    let (user, agent_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "INSERT INTO users (id, email, full_name, user_type, role, agent_id, email_verified) \
         VALUES ($1, $2, $3, 'agent', 'sales_agent', $4, true)",
    )
    .bind(user)
    .bind(email("sam"))
    .bind(name)
    .bind(agent_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let token = t.tokens.agent(user, agent_id, &["sales_agent"]);
    Ok(Agent {
        auth: agent_auth(&token, agent_id, Some(&full())),
        token,
        agent_id,
    })
}

async fn desk() -> anyhow::Result<Desk> {
    let t = svc().await?;
    let sales = t.agent(&["sales_agent"], Some(full()));
    let other_sales = t.agent(&["sales_agent"], Some(full()));
    let admin = t.agent(&["platform_admin"], None);
    let client = t.org_admin(&email("cli"), "Client Org").await?.2;
    let client_email = email("casey");
    let created = t
        .post(SIGNUP)
        .auth(&sales.auth)
        .json(assisted_body(&client_email))
        .expect(201)
        .await;
    approve(&t, &admin, &created).await;
    Ok(Desk {
        t,
        sales,
        other_sales,
        admin,
        client,
        client_email,
        created,
    })
}

#[tokio::test]
async fn creating_an_assisted_account_takes_the_create_permission_of_the_calling_agent()
-> anyhow::Result<()> {
    let t = svc().await?;
    let sales = t.agent(&["sales_agent"], Some(full()));
    let no_perm = t.agent(&["sales_agent"], Some(json!({"research": ["read"]})));
    let client = t.org_admin(&email("cli"), "Client Org").await?.2;
    let (st, _) = t
        .post(SIGNUP)
        .auth(&no_perm.auth)
        .json(assisted_body(&email("c")))
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "assisted_signup.create is required"
    );
    // Spoofed permission headers for another agent id are ignored.
    let spoof = agent_auth(&no_perm.token, Uuid::new_v4(), Some(&full()));
    let (st, _) = t
        .post(SIGNUP)
        .auth(&spoof)
        .json(assisted_body(&email("c")))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = t
        .post(SIGNUP)
        .bearer(&client)
        .json(assisted_body(&email("c")))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::FORBIDDEN, "clients cannot");
    let (st, p) = t
        .post(SIGNUP)
        .auth(&sales.auth)
        .json(json!({"client_email": "c@gmail.com", "client_name": "C", "company_name": "Co"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    Ok(())
}

#[tokio::test]
async fn an_assisted_account_gets_a_mailed_claim_link_of_which_only_a_digest_is_kept()
-> anyhow::Result<()> {
    let t = svc().await?;
    let sales = t.agent(&["sales_agent"], Some(full()));
    let admin = t.agent(&["platform_admin"], None);
    let client_email = email("casey");
    let (st, created) = t
        .post(SIGNUP)
        .auth(&sales.auth)
        .json(assisted_body(&client_email))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["account_status"], "assisted_unclaimed");
    assert_eq!(created["created_by_agent_id"], sales.agent_id.to_string());
    assert_eq!(created["created_by_agent_role"], "sales_agent");
    let claim = s(&created["claim_token"]);
    assert!(
        claim.starts_with("CLAIM-") && claim.len() >= 38,
        "≥ 128 bits: {claim}"
    );
    assert!(
        created["temporary_access_token"].is_null(),
        "temporary access waits for the approval"
    );
    let user_id = uuid(&created["user_id"]);
    let (st, _) = t
        .post(SIGNUP)
        .auth(&admin.auth)
        .json(assisted_body(&client_email))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CONFLICT, "one account per email");
    approve(&t, &admin, &created).await;
    let stored: String =
        sqlx::query_scalar("SELECT claim_token_hash FROM assisted_accounts WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *t.system_tx().await?)
            .await?;
    assert_ne!(stored, claim, "only a digest is stored");
    assert!(
        t.mailbox()
            .all(&client_email)
            .iter()
            .any(|m| m.text.contains(&claim)),
        "the claim email carries the link"
    );
    let event = t
        .assert_outbox_once("assisted_account_created", &user_id.to_string())
        .await;
    assert_eq!(
        event.data["created_by_agent_id"],
        sales.agent_id.to_string()
    );
    let event: Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE event_type = 'assisted_account_created'",
    )
    .fetch_one(&t.db().owner)
    .await?;
    assert_eq!(
        event["data"]["created_by_agent_id"],
        sales.agent_id.to_string()
    );
    assert!(
        !event.to_string().contains(&claim),
        "the claim token never travels in events"
    );
    Ok(())
}

#[tokio::test]
async fn the_creator_and_platform_admins_read_an_assisted_account_and_others_get_404()
-> anyhow::Result<()> {
    let d = desk().await?;
    let t = &d.t;
    // Reading: the creator and platform admins; other sales agents get 404.
    let one = d.one();
    let (st, got) = t.get(&one).auth(&d.sales.auth).send().await?.parts();
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(got["notes"], "Met at the trade fair");
    assert_eq!(
        t.get(&one).auth(&d.admin.auth).send().await?.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&one).auth(&d.other_sales.auth).send().await?.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&one).bearer(&d.client).send().await?.status,
        StatusCode::FORBIDDEN
    );
    Ok(())
}

#[tokio::test]
async fn the_list_summarises_pages_and_shows_a_sales_agent_only_its_own() -> anyhow::Result<()> {
    let d = desk().await?;
    let t = &d.t;
    let user_id = uuid(&d.created["user_id"]);
    // Listing: summary counts, a sales agent's own only.
    t.post(SIGNUP)
        .auth(&d.other_sales.auth)
        .json(assisted_body(&email("dana")))
        .expect(201)
        .await;
    let (st, list) = t
        .get("/api/v1/auth/assisted-accounts?status=unclaimed&sort_by=expires_at&order=asc&limit=1")
        .auth(&d.admin.auth)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["summary"]["total_unclaimed"], 2);
    assert_eq!(list["pagination"]["total_pages"], 2);
    assert_eq!(list["accounts"].as_array().map(Vec::len), Some(1));
    let (_, mine) = t
        .get(&format!(
            "/api/v1/auth/assisted-accounts?agent_id={}",
            d.other_sales.agent_id
        ))
        .auth(&d.sales.auth)
        .send()
        .await?
        .parts();
    assert_eq!(
        mine["pagination"]["total_accounts"], 1,
        "a sales agent sees only its own: {mine}"
    );
    assert_eq!(mine["accounts"][0]["user_id"], user_id.to_string());
    for q in [
        "status=lost",
        "sort_by=email",
        "order=up",
        "limit=500",
        "page=0",
    ] {
        let (st, body) = t
            .get(&format!("/api/v1/auth/assisted-accounts?{q}"))
            .auth(&d.admin.auth)
            .send()
            .await?
            .parts();
        assert!(
            st == StatusCode::UNPROCESSABLE_ENTITY || st == StatusCode::BAD_REQUEST,
            "{q}: {body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn temporary_access_lasts_at_most_72_hours_and_only_for_the_creator() -> anyhow::Result<()> {
    let d = desk().await?;
    let t = &d.t;
    // Temporary access: at most 72 hours.
    let access = format!("{}/access", d.one());
    let (st, _) = t
        .post(&access)
        .auth(&d.sales.auth)
        .json(json!({"reason": "demo prep", "duration_hours": 73}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, g) = t
        .post(&access)
        .auth(&d.sales.auth)
        .json(json!({"reason": "Setting up demo data", "duration_hours": 24}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{g}");
    let temp = s(&g["temporary_access_token"]);
    let claims = t
        .tokens
        .verifier
        .verify_now(temp.trim_start_matches("temp_"))?;
    assert_eq!(claims.scope.as_deref(), Some("assisted_access"));
    assert_eq!(
        claims.organization_id,
        Some(uuid(&d.created["organization_id"]))
    );
    assert!(claims.exp - claims.iat <= 24 * 3600);
    assert_eq!(
        t.post(&access)
            .auth(&d.other_sales.auth)
            .json(json!({"reason": "peek", "duration_hours": 1}))
            .send()
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    let events = t.outbox_types().await?;
    assert!(
        events
            .iter()
            .any(|x| x == "assisted_account_access_granted"),
        "assisted_account_access_granted"
    );
    Ok(())
}

#[tokio::test]
async fn a_resent_claim_link_retires_the_old_one_and_claims_once() -> anyhow::Result<()> {
    let d = desk().await?;
    let t = &d.t;
    let claim = s(&d.created["claim_token"]);
    // Resend: a new link; the old one stops working.
    let (st, r) = t
        .post(&format!("{}/resend-claim", d.one()))
        .auth(&d.sales.auth)
        .json(json!({"custom_message": "Here is your link again"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{r}");
    let new_claim = s(&r["claim_url"])
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_ne!(new_claim, claim);

    // Claim.
    let claim_with = |token: &str, terms: bool| {
        t.post("/api/v1/auth/claim-account")
            .json(
                json!({"claim_token": token, "password": "Claimed-Pass-55", "accept_terms": terms}),
            )
            .send()
    };
    let (st, _) = claim_with(&new_claim, false).await?.parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = claim_with(&claim, true).await?.parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "the rotated-out link is dead");
    let (st, done) = claim_with(&new_claim.to_lowercase(), true).await?.parts();
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["account_status"], "claimed");
    assert_eq!(done["role"], "admin");
    let (st, _) = claim_with(&new_claim, true).await?.parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "a claim works once");
    let (st, li) = t
        .post("/api/v1/auth/login")
        .json(json!({"email": d.client_email, "password": "Claimed-Pass-55"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{li}");
    assert_eq!(li["organizations"][0]["role"], "admin");
    let (_, got) = t.get(&d.one()).auth(&d.admin.auth).send().await?.parts();
    assert_eq!(got["account_status"], "claimed");
    let events = t.outbox_types().await?;
    for e in [
        "assisted_account_created",
        "claim_link_resent",
        "assisted_account_claimed",
    ] {
        assert!(events.iter().any(|x| x == e), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn unclaimed_accounts_are_reminded_then_expire_and_lock() -> anyhow::Result<()> {
    let t = svc_with(&[("ORG_AUTH_EXPIRY_SWEEP_SECS", "1")], "203.0.113.9").await?;
    let admin = t.agent(&["platform_admin"], None);
    let (e1, e2) = (email("soon"), email("late"));
    let (_, a) = t
        .post(SIGNUP)
        .auth(&admin.auth)
        .json(assisted_body(&e1))
        .send()
        .await?
        .parts();
    let (_, b) = t
        .post(SIGNUP)
        .auth(&admin.auth)
        .json(assisted_body(&e2))
        .send()
        .await?
        .parts();
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "UPDATE assisted_accounts SET expires_at = now() + interval '6 days' WHERE user_id = $1",
    )
    .bind(uuid(&a["user_id"]))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE assisted_accounts SET expires_at = now() - interval '1 minute' WHERE user_id = $1",
    )
    .bind(uuid(&b["user_id"]))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let expired = t
            .outbox_types()
            .await?
            .iter()
            .any(|e| e == "assisted_account_expired");
        let reminded = t.mailbox().count_with_subject_prefix(&e1, "Reminder") > 0;
        if expired && reminded {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep did not run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // another sweep: nothing repeats
    assert_eq!(
        t.mailbox().count_with_subject_prefix(&e1, "Reminder"),
        1,
        "one reminder"
    );
    assert_eq!(
        t.outbox_types()
            .await?
            .iter()
            .filter(|e| *e == "assisted_account_expired")
            .count(),
        1
    );
    let status: String = sqlx::query_scalar("SELECT account_status FROM users WHERE id = $1")
        .bind(uuid(&b["user_id"]))
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(status, "locked");
    let claim = s(&b["claim_token"]);
    let (st, _) = t
        .post("/api/v1/auth/claim-account")
        .json(json!({"claim_token": claim, "password": "Claimed-Pass-55", "accept_terms": true}))
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "an expired account cannot be claimed"
    );
    Ok(())
}

#[tokio::test]
async fn an_agent_may_use_a_documentation_address_but_not_a_throwaway_inbox() -> anyhow::Result<()>
{
    let t = svc().await?;
    let sales = t.agent(&["sales_agent"], Some(full()));
    let (st, created) = t
        .post(SIGNUP)
        .auth(&sales.auth)
        .json(assisted_body("client@example.com"))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED, "the spec's own example: {created}");
    assert_eq!(created["email"], "client@example.com");
    let (st, refused) = t
        .post(SIGNUP)
        .auth(&sales.auth)
        .json(assisted_body("client@mailinator.com"))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.to_string().contains("client_email"), "{refused}");
    Ok(())
}

#[tokio::test]
async fn an_assisted_account_names_its_agent_and_shows_its_current_claim_link_until_claimed()
-> anyhow::Result<()> {
    let t = svc().await?;
    let sam = named_agent(&t, "Sam Peterson").await?;
    let created = t
        .post(SIGNUP)
        .auth(&sam.auth)
        .json(assisted_body(&email("casey")))
        .expect(201)
        .await;
    assert_eq!(created["created_by_agent_name"], "Sam Peterson");
    let one = format!("/api/v1/auth/assisted-accounts/{}", s(&created["user_id"]));
    let got = t.get(&one).auth(&sam.auth).expect(200).await;
    assert_eq!(got["claim_token"], created["claim_token"]);
    assert_eq!(got["claim_url"], created["claim_url"]);
    approve(&t, &t.agent(&["platform_admin"], None), &created).await;
    let sealed: String =
        sqlx::query_scalar("SELECT claim_token_sealed FROM assisted_accounts WHERE user_id = $1")
            .bind(uuid(&created["user_id"]))
            .fetch_one(&mut *t.system_tx().await?)
            .await?;
    assert!(
        !sealed.contains(&s(&created["claim_token"])),
        "sealed at rest"
    );
    let resent = t
        .post(&format!("{one}/resend-claim"))
        .auth(&sam.auth)
        .json(json!({}))
        .expect(200)
        .await;
    let got = t.get(&one).auth(&sam.auth).expect(200).await;
    assert_eq!(got["claim_url"], resent["claim_url"], "the current link");
    let token = s(&got["claim_token"]);
    t.post("/api/v1/auth/claim-account")
        .json(json!({"claim_token": token, "password": "Claimed-Pass-9876", "accept_terms": true}))
        .expect(200)
        .await;
    let got = t.get(&one).auth(&sam.auth).expect(200).await;
    assert!(
        got["claim_url"].is_null() && got["claim_token"].is_null(),
        "{got}"
    );
    Ok(())
}
