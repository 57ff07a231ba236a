//! A signed-in user changes its password: the current one is required (and counts toward the
//! lockout when wrong), the new one follows the policy, the other sessions end, this one stays.
use crate::support::*;

const PATH: &str = "/api/v1/auth/change-password";
const OLD: &str = "SecurePass123!";
const NEW: &str = "Brand-New-Pass-42";

fn change(current: &str, new: &str) -> Value {
    json!({"current_password": current, "new_password": new})
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_ends_only_the_other_sessions()
-> anyhow::Result<()> {
    let t = svc().await?;
    let address = email("changer");
    let (user, token, refresh) = t.verified_user(&address).await?;
    let other = t
        .post("/api/v1/auth/login")
        .json(json!({"email": address, "password": OLD}))
        .expect(200)
        .await;

    let wrong = t
        .post(PATH)
        .bearer(&token)
        .json(change("Not-The-Pass-1", NEW))
        .expect_problem(400)
        .await;
    assert!(
        s(&wrong["type"]).ends_with("current-password-invalid"),
        "{wrong}"
    );
    let weak = t
        .post(PATH)
        .bearer(&token)
        .json(change(OLD, "short"))
        .expect_problem(422)
        .await;
    assert!(weak.to_string().contains("new_password"), "{weak}");
    t.post(PATH)
        .bearer(&token)
        .json(change(OLD, OLD))
        .expect_problem(422)
        .await;
    t.post(PATH)
        .bearer(&token)
        .json(json!({"new_password": NEW}))
        .expect_problem(422)
        .await;
    t.post(PATH)
        .json(change(OLD, NEW))
        .expect_problem(401)
        .await;

    let done = t
        .post(PATH)
        .bearer(&token)
        .json(change(OLD, NEW))
        .expect(200)
        .await;
    assert_eq!(done["user_id"], user.to_string());
    assert_eq!(done["other_sessions_revoked"], 1, "{done}");
    // The other sign-in is over, access and refresh; this one goes on.
    t.get("/api/v1/auth/me")
        .bearer(&s(&other["access_token"]))
        .expect_problem(401)
        .await;
    t.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": s(&other["refresh_token"])}))
        .expect_problem(401)
        .await;
    t.get("/api/v1/auth/me").bearer(&token).expect(200).await;
    t.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": refresh}))
        .expect(200)
        .await;
    t.post("/api/v1/auth/login")
        .json(json!({"email": address, "password": OLD}))
        .expect_problem(401)
        .await;
    t.post("/api/v1/auth/login")
        .json(json!({"email": address, "password": NEW}))
        .expect(200)
        .await;
    assert_eq!(
        t.mailbox()
            .count_with_subject_prefix(&address, "Your password was changed"),
        1
    );
    let actions = t.audit_actions().await?;
    assert!(actions.iter().any(|a| a == "password_change_failed"));
    assert_eq!(
        actions.iter().filter(|a| *a == "password_changed").count(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn wrong_current_passwords_lock_the_change_out_like_sign_ins() -> anyhow::Result<()> {
    let t = svc().await?;
    let address = email("guess");
    let (_, token, _) = t.verified_user(&address).await?;
    for _ in 0..5 {
        t.post(PATH)
            .bearer(&token)
            .json(change("Guessed-Pass-99", NEW))
            .expect_problem(400)
            .await;
    }
    // Locked out from this source: even the right password is refused, and so is a sign-in.
    t.post(PATH)
        .bearer(&token)
        .json(change(OLD, NEW))
        .expect_problem(400)
        .await;
    t.post("/api/v1/auth/login")
        .json(json!({"email": address, "password": OLD}))
        .expect_problem(401)
        .await;
    let actions = t.audit_actions().await?;
    assert!(actions.iter().any(|a| a == "password_change_while_locked"));
    assert!(actions.iter().any(|a| a == "account_locked"));
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "password_change_failed")
            .count(),
        5
    );
    Ok(())
}

#[tokio::test]
async fn a_temporary_access_token_cannot_change_the_accounts_password() -> anyhow::Result<()> {
    let t = svc().await?;
    let pa = t.agent(&["platform_admin"], None);
    let created = t
        .post("/api/v1/auth/assisted-signup")
        .auth(&pa.auth)
        .json(assisted_body(&email("client")))
        .expect(201)
        .await;
    let temp = s(&created["temporary_access_token"]);
    t.post(PATH)
        .bearer(&temp)
        .json(change(OLD, NEW))
        .expect_problem(403)
        .await;
    Ok(())
}
