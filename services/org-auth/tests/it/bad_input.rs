//! Bad input is refused with the field named, never a 500; text that looks like SQL is text.
use crate::support::*;

#[tokio::test]
async fn signup_refuses_bad_input_naming_the_field_and_creates_nothing() -> anyhow::Result<()> {
    let t = svc().await?;
    let cases = [
        (
            json!({"email": "john@gmail.com", "password": "SecurePass123!", "full_name": "J", "company_name": "Acme"}),
            422,
            "email",
        ),
        (
            json!({"email": "john@mailinator.com", "password": "SecurePass123!", "full_name": "J", "company_name": "Acme"}),
            422,
            "email",
        ),
        (
            json!({"email": "not-an-email", "password": "SecurePass123!", "full_name": "J", "company_name": "Acme"}),
            422,
            "email",
        ),
        (
            json!({"email": email("a"), "password": "weak", "full_name": "J", "company_name": "Acme"}),
            422,
            "password",
        ),
        (
            json!({"email": email("a"), "password": "SecurePass123!", "full_name": "J", "company_name": "A"}),
            422,
            "company_name",
        ),
        (
            json!({"email": email("a"), "password": "SecurePass123!", "full_name": "J\u{0}", "company_name": "Acme"}),
            422,
            "full_name",
        ),
        (
            json!({"email": email("a"), "password": "SecurePass123!", "full_name": "J", "company_name": "Acme", "is_admin": true}),
            422,
            "is_admin",
        ),
        (
            json!({"email": email("a"), "password": 5, "full_name": "J", "company_name": "Acme"}),
            422,
            "password",
        ),
    ];
    for (body, want, field) in cases {
        let (st, p) = t
            .post("/api/v1/auth/signup")
            .json(&body)
            .send()
            .await?
            .parts();
        assert_eq!(st.as_u16(), want, "{body}: {p}");
        assert!(s(&p["detail"]).contains(field), "{body} names {field}: {p}");
    }
    // Words that look like SQL are ordinary text.
    let (st, _) = t
        .post("/api/v1/auth/signup")
        .json(json!({"email": email("bob"), "password": "SecurePass123!", "full_name": "Robert'); DROP TABLE users;--", "company_name": "Select Update Ltd"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(users, 1, "only the valid signup created a user");
    Ok(())
}
