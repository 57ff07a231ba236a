//! Sessions: login, lockout, rotating refresh tokens with reuse detection, logout.
use crate::support::*;

fn login(user: &str, pw: &str) -> Value {
    json!({"email": user, "password": pw})
}

/// A user with an organisation of its own (`User Corp`) beside another one; its address.
async fn user(t: &OrgAuth) -> anyhow::Result<String> {
    t.org_admin(&email("owner"), "Lock Corp").await?;
    let user = email("user");
    t.org_admin(&user, "User Corp").await?;
    Ok(user)
}

async fn attempt(t: &OrgAuth, user: &str, pw: &str) -> anyhow::Result<(StatusCode, Value)> {
    Ok(t.post("/api/v1/auth/login")
        .json(login(user, pw))
        .send()
        .await?
        .parts())
}

#[tokio::test]
async fn login_answers_the_organisations_and_an_unknown_address_looks_like_a_wrong_password()
-> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    let (st, ok) = attempt(&t, &user, "SecurePass123!").await?;
    assert_eq!(st, StatusCode::OK, "{ok}");
    assert_eq!(ok["organizations"][0]["organization_name"], "User Corp");
    assert!(ok["organization_id"].is_string());

    let (st, wrong) = attempt(&t, &user, "WrongPass123!").await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, unknown) = attempt(&t, &email("nobody"), "WrongPass123!").await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong["detail"], unknown["detail"],
        "an unknown email looks like a wrong password"
    );
    let events = t.outbox_types().await?;
    assert!(events.iter().any(|e| e == "user_logged_in"));
    Ok(())
}

#[tokio::test]
async fn five_failed_logins_lock_the_account_for_fifteen_minutes() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    let (_, wrong) = attempt(&t, &user, "WrongPass123!").await?;
    for _ in 0..4 {
        attempt(&t, &user, "WrongPass123!").await?;
    }
    let (st, locked) = attempt(&t, &user, "SecurePass123!").await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "five failures lock even the right password out"
    );
    assert_eq!(locked["detail"], wrong["detail"]);
    // Fifteen minutes later the lock is over.
    let mut tx = t.system_tx().await?;
    let n = sqlx::query("UPDATE users SET locked_until = now() - interval '1 second' WHERE lower(email) = $1 AND locked_until > now()")
        .bind(&user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    assert_eq!(n, 1, "the account was locked");
    let (st, ok) = attempt(&t, &user, "SecurePass123!").await?;
    assert_eq!(st, StatusCode::OK, "{ok}");
    let audit = t.audit_actions().await?;
    assert!(
        audit.iter().any(|a| a == "account_locked") && audit.iter().any(|a| a == "login_failed")
    );
    Ok(())
}

#[tokio::test]
async fn each_refresh_token_works_once_and_a_replay_revokes_the_sign_in() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    let (_, ok) = attempt(&t, &user, "SecurePass123!").await?;
    // Rotation: each refresh token works once; replaying one revokes the whole sign-in.
    let r1 = s(&ok["refresh_token"]);
    let refresh = |r: &str| {
        t.post("/api/v1/auth/refresh")
            .json(json!({"refresh_token": r}))
    };
    let (st, n1) = refresh(&r1).send().await?.parts();
    assert_eq!(st, StatusCode::OK, "{n1}");
    let r2 = s(&n1["refresh_token"]);
    assert_ne!(r1, r2);
    let (st, _) = refresh(&r1).send().await?.parts();
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a rotated token is refused");
    let (st, _) = refresh(&r2).send().await?.parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "and its whole family is revoked"
    );
    Ok(())
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_let_exactly_one_win() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    let (_, ok) = attempt(&t, &user, "SecurePass123!").await?;
    let r = s(&ok["refresh_token"]);
    let refresh = || {
        t.post("/api/v1/auth/refresh")
            .json(json!({"refresh_token": r}))
            .send()
    };
    let (a, b) = tokio::join!(refresh(), refresh());
    let wins = [a?.status, b?.status]
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert_eq!(wins, 1);
    Ok(())
}

#[tokio::test]
async fn logout_ends_the_sign_in() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    let (_, ok) = attempt(&t, &user, "SecurePass123!").await?;
    let r = s(&ok["refresh_token"]);
    let (st, _) = t
        .post("/api/v1/auth/logout")
        .json(json!({"refresh_token": r}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": r}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn an_organisation_admin_lifts_a_lockout_early_and_another_organisations_cannot()
-> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    let (_, ok) = attempt(&t, &user, "SecurePass123!").await?;
    let r = s(&ok["refresh_token"]);
    t.post("/api/v1/auth/logout")
        .json(json!({"refresh_token": r}))
        .expect(204)
        .await;
    for _ in 0..5 {
        attempt(&t, &user, "WrongPass123!").await?;
    }
    let (st, _) = attempt(&t, &user, "SecurePass123!").await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "locked again");
    let me = s(&ok["organization_id"]);
    let uid = s(&ok["user_id"]);
    let (_, _, stranger) = t.org_admin(&email("stranger"), "Stranger Org").await?;
    let unlock = format!("/api/v1/organizations/{me}/members/{uid}/unlock");
    let (st, _) = t
        .post(&unlock)
        .bearer(&stranger)
        .json(json!({}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Signed out, but the access token from before the lockout is still valid for its minutes.
    let admin_token = s(&ok["access_token"]);
    let (st, un) = t
        .post(&unlock)
        .bearer(&admin_token)
        .json(json!({}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{un}");
    assert_eq!(un["unlocked"], true);
    let (st, _) = attempt(&t, &user, "SecurePass123!").await?;
    assert_eq!(st, StatusCode::OK, "unlocked by the admin");
    Ok(())
}
