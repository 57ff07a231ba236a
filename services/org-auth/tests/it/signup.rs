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

/// The codes mailed to `to`, oldest first.
fn codes(t: &OrgAuth, to: &str) -> Vec<String> {
    t.mailbox()
        .all(to)
        .iter()
        .filter_map(|m| testkit::mailbox::code_after(&m.text, "verification code is ", 6))
        .collect()
}

/// The owner signs up; before verifying, someone else signs up again for the same address with
/// another password. Answers the two codes: the owner's, then the other one's.
async fn signed_up_twice(t: &OrgAuth, owner: &str) -> anyhow::Result<(String, String)> {
    t.post("/api/v1/auth/signup")
        .json(signup_body(owner))
        .expect(201)
        .await;
    t.post("/api/v1/auth/signup")
        .header("x-forwarded-for", "203.0.113.66")
        .json(
            json!({"email": owner, "password": "Attacker-Pass-666", "full_name": "Mallory",
                     "company_name": "Evil Corp"}),
        )
        .expect(201)
        .await;
    let codes = codes(t, owner);
    assert_eq!(codes.len(), 2, "one code per signup: {codes:?}");
    Ok((codes[0].clone(), codes[1].clone()))
}

async fn login_status(t: &OrgAuth, email: &str, password: &str) -> anyhow::Result<StatusCode> {
    Ok(t.post("/api/v1/auth/login")
        .json(json!({"email": email, "password": password}))
        .send()
        .await?
        .status)
}

#[tokio::test]
async fn a_second_signup_before_verification_cannot_set_the_password_the_owner_verifies()
-> anyhow::Result<()> {
    let t = svc().await?;
    let owner = email("olivia");
    let (first, _) = signed_up_twice(&t, &owner).await?;
    let (st, v) = t
        .post("/api/v1/auth/verify-email")
        .json(json!({"email": owner, "verification_code": first}))
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::OK,
        "the first mail's code still verifies: {v}"
    );
    assert_eq!(
        login_status(&t, &owner, "Attacker-Pass-666").await?,
        StatusCode::UNAUTHORIZED,
        "the second signup's password is not live"
    );
    // Two signups competed: neither password is trusted; the mailbox's owner sets one.
    assert_eq!(
        login_status(&t, &owner, "SecurePass123!").await?,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.mailbox()
            .count_with_subject_prefix(&owner, "Set your password"),
        1,
        "the owner is sent a link to set a password"
    );
    let name: String = sqlx::query_scalar("SELECT full_name FROM users WHERE lower(email) = $1")
        .bind(&owner)
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(name, "John Doe", "nor is the rest of its profile");
    Ok(())
}

#[tokio::test]
async fn after_competing_signups_no_submitted_password_is_live_and_one_code_spends_all()
-> anyhow::Result<()> {
    let t = svc().await?;
    let owner = email("oscar");
    let (first, second) = signed_up_twice(&t, &owner).await?;
    t.post("/api/v1/auth/verify-email")
        .json(json!({"email": owner, "verification_code": second}))
        .expect(200)
        .await;
    for password in ["SecurePass123!", "Attacker-Pass-666"] {
        assert_eq!(
            login_status(&t, &owner, password).await?,
            StatusCode::UNAUTHORIZED,
            "after competing signups no submitted password is live"
        );
    }
    let (st, _) = t
        .post("/api/v1/auth/verify-email")
        .json(json!({"email": owner, "verification_code": first}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "the other code is used up too");
    Ok(())
}
