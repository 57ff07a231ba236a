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
    // Locked out of signing in, the admin still holds the session from before the lockout.
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

/// A login attempt to `user` from the client address `ip`: the status and `Retry-After`.
async fn attempt_from(
    t: &OrgAuth,
    user: &str,
    pw: &str,
    ip: &str,
) -> anyhow::Result<(StatusCode, Option<u64>)> {
    let res = t
        .post("/api/v1/auth/login")
        .header("x-forwarded-for", ip)
        .json(login(user, pw))
        .send()
        .await?;
    let wait = res.header("retry-after").and_then(|v| v.parse().ok());
    Ok((res.status, wait))
}

/// As if the wait after the last failure to `user` were over.
async fn wait_out_the_delay(t: &OrgAuth, user: &str) -> anyhow::Result<()> {
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "UPDATE login_failures SET last_failed_at = now() - interval '20 hours' \
         WHERE email = lower($1) AND source = '*'",
    )
    .bind(user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn five_failures_from_one_address_lock_only_that_address_out() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    for _ in 0..5 {
        attempt_from(&t, &user, "WrongPass123!", "198.18.0.1").await?;
    }
    let (st, _) = attempt_from(&t, &user, "SecurePass123!", "198.18.0.1").await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "absolute for that address");
    let (st, _) = attempt_from(&t, &user, "SecurePass123!", "203.0.113.9").await?;
    assert_eq!(st, StatusCode::OK, "the owner elsewhere signs in");
    Ok(())
}

#[tokio::test]
async fn failures_from_many_addresses_cannot_keep_the_owner_out_from_an_address_it_used()
-> anyhow::Result<()> {
    let t = svc().await?;
    let user = user(&t).await?;
    let home = "203.0.113.20";
    assert_eq!(
        attempt_from(&t, &user, "SecurePass123!", home).await?.0,
        StatusCode::OK
    );
    // Strangers fail from three addresses until each is locked out, with the waits waited out.
    for n in 0..15 {
        wait_out_the_delay(&t, &user).await?;
        let (st, _) =
            attempt_from(&t, &user, "WrongPass123!", &format!("198.18.1.{}", n / 5)).await?;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{n}");
    }
    let (st, wait) = attempt_from(&t, &user, "SecurePass123!", "198.18.1.0").await?;
    assert_eq!(
        (st, wait),
        (StatusCode::UNAUTHORIZED, None),
        "a locked-out address stays out"
    );
    let (st, wait) = attempt_from(&t, &user, "WrongPass123!", "198.18.1.99").await?;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "a new address waits");
    assert!(wait.is_some_and(|w| w > 1), "{wait:?}");
    let (st, _) = attempt_from(&t, &user, "SecurePass123!", home).await?;
    assert_eq!(st, StatusCode::OK, "the owner's own address is not held up");
    let audit = t.audit_actions().await?;
    assert!(audit.iter().any(|a| a == "login_delayed"), "{audit:?}");
    Ok(())
}

/// Fails `n` more times to `user` from fresh addresses (four each: none is locked out), each
/// after the wait; their statuses.
async fn fail_then_wait(
    t: &OrgAuth,
    user: &str,
    from: usize,
    n: usize,
) -> anyhow::Result<Vec<u16>> {
    let mut statuses = Vec::new();
    for i in from..from + n {
        wait_out_the_delay(t, user).await?;
        let ip = format!("198.18.2.{}", i / 4);
        statuses.push(
            attempt_from(t, user, "WrongPass123!", &ip)
                .await?
                .0
                .as_u16(),
        );
    }
    Ok(statuses)
}

#[tokio::test]
async fn each_failure_from_another_address_makes_the_wait_longer_for_known_and_unknown_addresses_alike()
-> anyhow::Result<()> {
    let t = svc().await?;
    let known = user(&t).await?;
    let unknown = email("nobody");
    let mut seen = Vec::new();
    for address in [&known, &unknown] {
        let mut statuses = fail_then_wait(&t, address, 0, 10).await?;
        let (st, first) = attempt_from(&t, address, "WrongPass123!", "198.18.3.1").await?;
        statuses.push(st.as_u16());
        statuses.extend(fail_then_wait(&t, address, 12, 2).await?);
        let (st, second) = attempt_from(&t, address, "WrongPass123!", "198.18.3.2").await?;
        statuses.push(st.as_u16());
        let (first, second) = (first.unwrap_or(0), second.unwrap_or(0));
        // Ten failures: 16 s; twelve: 64 s (less what has passed since).
        assert!((9..=16).contains(&first), "{address}: {first}");
        assert!((33..=64).contains(&second), "{address}: {second}");
        seen.push(statuses);
    }
    assert_eq!(
        seen[0], seen[1],
        "an unknown address is answered like a known one"
    );
    assert_eq!(
        seen[0].iter().filter(|s| **s == 429).count(),
        2,
        "{:?}",
        seen[0]
    );
    Ok(())
}
