//! Password reset: the same answer for any address, a single-use mailed link, sessions ended.
use crate::support::*;

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
    let token = t
        .mailbox()
        .link_param(&user, "Reset your password", "token");

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
