//! Platform admins deactivate, reactivate and unlock logins (agents' included); nobody else
//! may, and each change is audited with its actor.
use crate::support::*;

pub const AGENT_PASSWORD: &str = "Agent-Pass-2026!";

/// An agent login with a password, as `fleet admin` or human-agent's registration leave one:
/// (user id, agent id, email).
pub async fn agent_login(t: &OrgAuth, role: &str) -> anyhow::Result<(Uuid, Uuid, String)> {
    let (user, agent, address) = (Uuid::now_v7(), Uuid::now_v7(), email("agent"));
    let hash = org_auth::hash_password(AGENT_PASSWORD.into())
        .await
        .map_err(|p| anyhow::anyhow!("{}", p.detail()))?;
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, full_name, user_type, role, agent_id, email_verified) \
         VALUES ($1, $2, $3, 'Sam Peterson', 'agent', $4, $5, true)",
    )
    .bind(user)
    .bind(&address)
    .bind(hash)
    .bind(role)
    .bind(agent)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((user, agent, address))
}

fn login(address: &str, password: &str) -> Value {
    json!({"email": address, "password": password})
}

#[tokio::test]
async fn a_deactivated_login_gets_no_token_and_loses_its_sessions_until_reactivated()
-> anyhow::Result<()> {
    let t = svc().await?;
    let address = email("leaver");
    let (user, token, refresh) = t.verified_user(&address).await?;
    let pa = t.agent(&["platform_admin"], None);
    let path = format!("/api/v1/auth/users/{user}");
    let done = t
        .post(&format!("{path}/deactivate"))
        .auth(&pa.auth)
        .json(json!({"reason": "left the company"}))
        .expect(200)
        .await;
    assert_eq!(done["account_status"], "suspended");
    assert_eq!(done["user_type"], "client");
    assert!(
        done["sessions_revoked"].as_u64().unwrap_or(0) >= 1,
        "{done}"
    );
    t.get("/api/v1/auth/me")
        .bearer(&token)
        .expect_problem(401)
        .await;
    t.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": refresh}))
        .expect_problem(401)
        .await;
    t.post("/api/v1/auth/login")
        .json(login(&address, "SecurePass123!"))
        .expect_problem(403)
        .await;
    t.post(&format!("{path}/deactivate"))
        .auth(&pa.auth)
        .json(json!({"reason": "again"}))
        .expect_problem(409)
        .await;

    let back = t
        .post(&format!("{path}/reactivate"))
        .auth(&pa.auth)
        .expect(200)
        .await;
    assert_eq!(back["account_status"], "active");
    t.post("/api/v1/auth/login")
        .json(login(&address, "SecurePass123!"))
        .expect(200)
        .await;
    t.post(&format!("{path}/reactivate"))
        .auth(&pa.auth)
        .expect_problem(409)
        .await;

    let rows: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT action, actor_id FROM audit_logs WHERE user_id = $1 AND action IN ('user_deactivated', 'user_reactivated') ORDER BY \"timestamp\"",
    )
    .bind(user)
    .fetch_all(&mut *t.system_tx().await?)
    .await?;
    let me = t
        .get("/api/v1/auth/me?organizations=false")
        .auth(&pa.auth)
        .expect(200)
        .await;
    let actor = Some(uuid(&me["user_id"]));
    assert_eq!(
        rows,
        vec![
            ("user_deactivated".to_string(), actor),
            ("user_reactivated".to_string(), actor)
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_platform_admin_cannot_deactivate_its_own_login() -> anyhow::Result<()> {
    let t = svc().await?;
    let (user, _, address) = agent_login(&t, "platform_admin").await?;
    let signed = t
        .post("/api/v1/auth/login")
        .json(login(&address, AGENT_PASSWORD))
        .expect(200)
        .await;
    let token = s(&signed["access_token"]);
    t.post(&format!("/api/v1/auth/users/{user}/deactivate"))
        .bearer(&token)
        .json(json!({"reason": "oops"}))
        .expect_problem(409)
        .await;
    Ok(())
}

#[tokio::test]
async fn only_platform_admins_manage_logins_and_bad_input_is_refused() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("own"), "Own Co").await?;
    let (member, _, _) = t.member(org, &admin, &email("m"), "member").await?;
    let (_, other, _) = t.org_admin(&email("other"), "Other Co").await?;
    let sales = t.agent(
        &["sales_agent"],
        Some(json!({"assisted_signup": ["create", "read", "update"]})),
    );
    let body = json!({"reason": "policy"});
    for target in [member, other] {
        for op in ["deactivate", "reactivate", "unlock"] {
            let path = format!("/api/v1/auth/users/{target}/{op}");
            t.post(&path)
                .bearer(&admin)
                .json(&body)
                .expect_problem(403)
                .await;
            t.post(&path)
                .auth(&sales.auth)
                .json(&body)
                .expect_problem(403)
                .await;
            t.post(&path).json(&body).expect_problem(401).await;
        }
    }
    let pa = t.agent(&["platform_admin"], None);
    let unknown = Uuid::now_v7();
    for op in ["deactivate", "reactivate", "unlock"] {
        t.post(&format!("/api/v1/auth/users/{unknown}/{op}"))
            .auth(&pa.auth)
            .json(&body)
            .expect_problem(404)
            .await;
    }
    for bad in [
        json!({}),
        json!({"reason": "x"}),
        json!({"reason": "fine", "extra": 1}),
    ] {
        t.post(&format!("/api/v1/auth/users/{member}/deactivate"))
            .auth(&pa.auth)
            .json(bad)
            .expect_problem(422)
            .await;
    }
    let (st, _) = t
        .post("/api/v1/auth/users/not-a-uuid/unlock")
        .auth(&pa.auth)
        .send()
        .await?
        .parts();
    assert!(st.is_client_error(), "{st}");
    // Nothing changed for the member.
    let status: String = sqlx::query_scalar("SELECT account_status FROM users WHERE id = $1")
        .bind(member)
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(status, "active");
    Ok(())
}

#[tokio::test]
async fn a_platform_admin_unlocks_a_locked_agent_login() -> anyhow::Result<()> {
    let t = svc().await?;
    let (user, _, address) = agent_login(&t, "sales_agent").await?;
    for _ in 0..5 {
        t.post("/api/v1/auth/login")
            .json(login(&address, "Wrong-Pass-1234"))
            .expect_problem(401)
            .await;
    }
    t.post("/api/v1/auth/login")
        .json(login(&address, AGENT_PASSWORD))
        .expect_problem(401)
        .await;
    let pa = t.agent(&["platform_admin"], None);
    let path = format!("/api/v1/auth/users/{user}/unlock");
    let done = t.post(&path).auth(&pa.auth).expect(200).await;
    assert_eq!(done["unlocked"], true);
    let signed = t
        .post("/api/v1/auth/login")
        .json(login(&address, AGENT_PASSWORD))
        .expect(200)
        .await;
    assert!(!s(&signed["access_token"]).is_empty());
    let again = t.post(&path).auth(&pa.auth).expect(200).await;
    assert_eq!(again["unlocked"], false);
    let actions = t.audit_actions().await?;
    assert_eq!(
        actions.iter().filter(|a| *a == "account_unlocked").count(),
        2
    );
    Ok(())
}
