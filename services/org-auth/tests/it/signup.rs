//! Self-service signup with a work address and the mailed verification code.
use crate::support::*;

#[tokio::test]
async fn signing_up_mails_a_code_that_verifies_the_address_once() -> anyhow::Result<()> {
    let t = svc().await?;
    let owner = email("john");
    let (st, body) = t
        .post("/api/v1/auth/signup")
        .json(signup_body(&owner))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(body["verification_status"], "pending");
    assert_eq!(body["verification_email_sent"], true);
    let code = t.code_for(&owner);
    assert!(
        code.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && code.len() == 6
    );

    let (st, _) = t
        .post("/api/v1/auth/verify-email")
        .json(json!({"email": owner, "verification_code": "ZZZZZZ"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "a wrong code is refused");
    let (st, v) = t
        .post("/api/v1/auth/verify-email")
        .json(json!({"email": owner, "verification_code": code.to_lowercase()}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["next_step"], "create_organization");
    assert_eq!(v["email_verified"], true);
    let (st, _) = t
        .post("/api/v1/auth/verify-email")
        .json(json!({"email": owner, "verification_code": code}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "a code works once");
    let events = t.outbox_types().await?;
    assert!(
        events.iter().any(|x| x == "user_signed_up"),
        "user_signed_up in {events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn signing_up_again_with_a_verified_address_reveals_nothing_and_tells_the_owner()
-> anyhow::Result<()> {
    let t = svc().await?;
    // Signing up again with a verified address looks the same, creates nothing, and tells the
    // owner by email.
    let existing = email("kim");
    t.verified_user(&existing).await?;
    let (st, again) = t
        .post("/api/v1/auth/signup")
        .json(signup_body(&existing))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(again["verification_status"], "pending");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE lower(email) = $1")
        .bind(&existing)
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(n, 1);
    assert!(
        t.mailbox()
            .all(&existing)
            .iter()
            .any(|m| m.subject.contains("tried to sign up"))
    );
    Ok(())
}
