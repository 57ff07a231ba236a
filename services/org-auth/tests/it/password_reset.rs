//! Password reset: the same answer for any address, a single-use mailed link, sessions ended.
use std::time::{Duration, Instant};

use crate::support::*;

/// The tokens of the reset links mailed to `to`, once `n` have arrived (they are sent off the
/// request); panics after ten seconds.
async fn reset_tokens(t: &OrgAuth, to: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tokens: Vec<String> = t
            .mailbox()
            .all(to)
            .iter()
            .filter(|m| m.subject == "Reset your password")
            .filter_map(|m| testkit::mailbox::link_param(&m.text, "token"))
            .collect();
        if tokens.len() >= n {
            return tokens;
        }
        assert!(
            Instant::now() < deadline,
            "{n} reset mails to {to}: {tokens:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_password_reset_link_works_once_and_ends_every_session() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = email("pat");
    let (_, _, refresh) = t.verified_user(&user).await?;
    let (st, a) = t
        .post("/api/v1/auth/password-reset")
        .json(json!({"email": user}))
        .send()
        .await?
        .parts();
    let (st2, b) = t
        .post("/api/v1/auth/password-reset")
        .json(json!({"email": email("ghost")}))
        .send()
        .await?
        .parts();
    assert_eq!((st, st2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(a, b, "the same answer for an unknown address");
    let token = reset_tokens(&t, &user, 1).await.remove(0);

    let confirm = |pw: &str| {
        t.post("/api/v1/auth/password-reset/confirm")
            .json(json!({"token": token, "new_password": pw}))
            .send()
    };
    let (st, p) = confirm("weak").await?.parts();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (st, _) = confirm("Brand-New-Pass-42").await?.parts();
    assert_eq!(st, StatusCode::OK);
    let (st, _) = confirm("Other-New-Pass-43").await?.parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "single use");
    let (st, _) = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": refresh}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::UNAUTHORIZED, "sessions ended");
    let login = |pw: &str| {
        t.post("/api/v1/auth/login")
            .json(json!({"email": user, "password": pw}))
            .send()
    };
    let (st, _) = login("SecurePass123!").await?.parts();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = login("Brand-New-Pass-42").await?.parts();
    assert_eq!(st, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn spending_one_reset_link_voids_the_others_still_outstanding() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = email("riley");
    t.verified_user(&user).await?;
    for _ in 0..2 {
        t.post("/api/v1/auth/password-reset")
            .json(json!({"email": user}))
            .expect(202)
            .await;
    }
    let tokens = reset_tokens(&t, &user, 2).await;
    let confirm = |token: &str, pw: &str| {
        t.post("/api/v1/auth/password-reset/confirm")
            .json(json!({"token": token, "new_password": pw}))
            .send()
    };
    let (st, _) = confirm(&tokens[1], "Brand-New-Pass-42").await?.parts();
    assert_eq!(st, StatusCode::OK);
    let (st, p) = confirm(&tokens[0], "Stolen-Link-Pass-43").await?.parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "the older link is void: {p}");
    Ok(())
}

/// An SMTP server that accepts connections and never says a word.
async fn silent_smtp() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("smtp://{}", listener.local_addr()?);
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    Ok((url, held))
}

#[tokio::test]
async fn a_reset_request_is_answered_at_once_for_any_address_even_while_mail_hangs()
-> anyhow::Result<()> {
    let (smtp, _server) = silent_smtp().await?;
    let t = svc_with(&[("SMTP_URL", &smtp)], "192.0.2.41").await?;
    // The account is made directly: signing up would wait on the silent mail server itself.
    let (user, known) = (Uuid::now_v7(), email("hung"));
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, full_name, user_type, email_verified) \
         VALUES ($1, $2, 'x', 'Hung Mail', 'client', true)",
    )
    .bind(user)
    .bind(&known)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for address in [known.clone(), email("nobody")] {
        let request = t
            .post("/api/v1/auth/password-reset")
            .json(json!({"email": address}))
            .send();
        let res = tokio::time::timeout(Duration::from_secs(5), request)
            .await
            .map_err(|_| anyhow::anyhow!("the answer for {address} waited on the mail"))??;
        assert_eq!(res.status, StatusCode::ACCEPTED);
    }
    // The link itself is still made, off the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let links: i64 =
            sqlx::query_scalar("SELECT count(*) FROM password_tokens WHERE user_id = $1")
                .bind(user)
                .fetch_one(&mut *t.system_tx().await?)
                .await?;
        if links == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no reset link was made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
