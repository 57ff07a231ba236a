//! Revocation: access tokens refused at once when their session or grant ends, at this
//! process's verifier (and, by `revocation_events`, at every other).
use crate::support::*;

const ME: &str = "/api/v1/auth/me?organizations=false";

/// An assisted account created by a sales agent and approved by a platform admin: its answer,
/// with the temporary access token the sales agent was granted after the approval.
async fn assisted_account(t: &OrgAuth) -> Value {
    let sales = t.agent(
        &["sales_agent"],
        Some(json!({"assisted_signup": ["create", "read", "update"]})),
    );
    let mut created = t
        .post("/api/v1/auth/assisted-signup")
        .auth(&sales.auth)
        .json(assisted_body(&email("casey")))
        .expect(201)
        .await;
    let admin = t.agent(&["platform_admin"], None);
    crate::assisted_approval::approve(t, &admin, &created).await;
    let granted = t
        .post(&format!(
            "/api/v1/auth/assisted-accounts/{}/access",
            s(&created["user_id"])
        ))
        .auth(&sales.auth)
        .json(json!({"reason": "demo prep", "duration_hours": 2}))
        .expect(200)
        .await;
    created["temporary_access_token"] = granted["temporary_access_token"].clone();
    created
}

#[tokio::test]
async fn a_temporary_access_token_is_refused_once_the_account_is_claimed() -> anyhow::Result<()> {
    let t = svc().await?;
    let created = assisted_account(&t).await;
    let temp = s(&created["temporary_access_token"]);
    let org = s(&created["organization_id"]);
    // As the specification writes it, `temp_` and the JWT.
    t.get(&format!("/api/v1/organizations/{org}"))
        .bearer(&temp)
        .expect(200)
        .await;

    t.post("/api/v1/auth/claim-account")
        .json(json!({"claim_token": s(&created["claim_token"]), "password": "Claimed-Pass-55", "accept_terms": true}))
        .expect(200)
        .await;
    let refused = t
        .get(&format!("/api/v1/organizations/{org}"))
        .bearer(&temp)
        .expect_problem(401)
        .await;
    assert!(s(&refused["detail"]).contains("revoked"), "{refused}");
    assert!(
        t.outbox_types()
            .await?
            .iter()
            .any(|e| e == "tokens_revoked"),
        "the revocation is published for the other verifiers"
    );
    Ok(())
}

#[tokio::test]
async fn a_temporary_access_token_cannot_change_the_accounts_credentials_or_members()
-> anyhow::Result<()> {
    let t = svc().await?;
    let created = assisted_account(&t).await;
    let temp = s(&created["temporary_access_token"]);
    t.post("/api/v1/auth/mfa/totp/enroll")
        .bearer(&temp)
        .expect_problem(403)
        .await;
    let (org, user) = (s(&created["organization_id"]), s(&created["user_id"]));
    t.delete(&format!("/api/v1/organizations/{org}/members/{user}"))
        .bearer(&temp)
        .expect_problem(403)
        .await;
    Ok(())
}

#[tokio::test]
async fn a_removed_members_access_token_is_refused_at_once() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("boss"), "Removals Ltd").await?;
    let (user, member, _) = t.member(org, &admin, &email("leaver"), "member").await?;
    t.get(ME).bearer(&member).expect(200).await;
    t.delete(&format!("/api/v1/organizations/{org}/members/{user}"))
        .bearer(&admin)
        .expect(200)
        .await;
    t.get(ME).bearer(&member).expect_problem(401).await;
    t.get(ME).bearer(&admin).expect(200).await;
    Ok(())
}

#[tokio::test]
async fn a_signed_out_sessions_access_token_is_refused_and_the_users_other_session_is_not()
-> anyhow::Result<()> {
    let t = svc().await?;
    let address = email("leaving");
    let (_, first, refresh) = t.verified_user(&address).await?;
    let second = t
        .post("/api/v1/auth/login")
        .json(json!({"email": address, "password": "SecurePass123!"}))
        .expect(200)
        .await;
    t.post("/api/v1/auth/logout")
        .json(json!({"refresh_token": refresh}))
        .expect(204)
        .await;
    t.get(ME).bearer(&first).expect_problem(401).await;
    t.get(ME)
        .bearer(&s(&second["access_token"]))
        .expect(200)
        .await;
    Ok(())
}
