//! org-auth over HTTP against the real datastores: the identity journeys, their rules, and a
//! cross-tenant check for every organisation endpoint.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

struct Svc {
    s: testkit::Spawned,
    /// A per-test client address, so per-IP limits do not collide between tests.
    ip: String,
}

async fn svc() -> anyhow::Result<Svc> {
    let s = testkit::spawn(&org_auth::SERVICE).await?;
    let n = Uuid::new_v4().as_bytes()[0];
    Ok(Svc {
        s,
        ip: format!("198.51.100.{n}"),
    })
}

impl Svc {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.s
            .call(method, path, token, body, &[("x-forwarded-for", &self.ip)])
            .await
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::GET, path, Some(token), None).await
    }

    fn mail(&self, to: &str) -> Vec<notify::Received> {
        notify::read_mailbox(&self.s.mailbox, to)
    }

    fn code_for(&self, to: &str) -> String {
        let mails = self.mail(to);
        let text = &mails.last().expect("a verification email").text;
        let at = text.find("verification code is ").expect("code in mail")
            + "verification code is ".len();
        text[at..at + 6].to_string()
    }

    /// Signs up and verifies; returns (user_id, access token, refresh token).
    async fn verified_user(&self, email: &str) -> anyhow::Result<(Uuid, String, String)> {
        let (st, body) = self
            .post("/api/v1/auth/signup", None, signup_body(email))
            .await?;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        let code = self.code_for(email);
        let (st, body) = self
            .post(
                "/api/v1/auth/verify-email",
                None,
                json!({"email": email, "verification_code": code}),
            )
            .await?;
        assert_eq!(st, StatusCode::OK, "{body}");
        Ok((
            uuid(&body["user_id"]),
            s(&body["access_token"]),
            s(&body["refresh_token"]),
        ))
    }

    /// A verified user with an organisation: (org_id, admin user id, admin token).
    async fn org_admin(&self, email: &str, org_name: &str) -> anyhow::Result<(Uuid, Uuid, String)> {
        let (user, token, _) = self.verified_user(email).await?;
        let (st, body) = self
            .post(
                "/api/v1/organizations",
                Some(&token),
                json!({"organization_name": org_name, "industry": "e-commerce"}),
            )
            .await?;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        Ok((
            uuid(&body["organization_id"]),
            user,
            s(&body["access_token"]),
        ))
    }

    /// Invites and accepts: (member user id, member token).
    async fn member(
        &self,
        org: Uuid,
        admin: &str,
        email: &str,
        role: &str,
    ) -> anyhow::Result<(Uuid, String, String)> {
        let (st, inv) = self
            .post(
                &format!("/api/v1/organizations/{org}/invitations"),
                Some(admin),
                json!({"email": email, "role": role}),
            )
            .await?;
        assert_eq!(st, StatusCode::CREATED, "{inv}");
        let link = s(&inv["invitation_link"]);
        let token = link
            .split("token=")
            .nth(1)
            .expect("token in link")
            .to_string();
        let (st, body) = self
            .post(
                &format!("/api/v1/invitations/{}/accept", s(&inv["invitation_id"])),
                None,
                json!({"token": token, "full_name": "Sarah Member", "password": "Another-Pass-987"}),
            )
            .await?;
        assert_eq!(st, StatusCode::OK, "{body}");
        Ok((
            uuid(&body["user_id"]),
            s(&body["access_token"]),
            s(&body["refresh_token"]),
        ))
    }

    /// A transaction as the service's own work (RLS: every tenant), for checks behind the API.
    async fn sys(&self) -> anyhow::Result<kit::store::Tx> {
        Ok(kit::store::begin(&self.s.db.app, kit::store::Scope::system()).await?)
    }

    async fn outbox_types(&self) -> anyhow::Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT event_type FROM outbox ORDER BY id")
                .fetch_all(&self.s.db.owner)
                .await?,
        )
    }
}

fn signup_body(email: &str) -> Value {
    json!({"email": email, "password": "SecurePass123!", "full_name": "John Doe",
           "company_name": "Acme Corp", "role_in_company": "Product Manager"})
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().and_then(|x| x.parse().ok()).unwrap_or_default()
}

fn email(tag: &str) -> String {
    format!(
        "{tag}.{}@acme.com",
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

#[tokio::test]
async fn signup_verify_organisation_invite_accept_members() -> anyhow::Result<()> {
    let t = svc().await?;
    let owner = email("john");
    let (st, body) = t
        .post("/api/v1/auth/signup", None, signup_body(&owner))
        .await?;
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
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"email": owner, "verification_code": "ZZZZZZ"}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a wrong code is refused");
    let (st, v) = t
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"email": owner, "verification_code": code.to_lowercase()}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["next_step"], "create_organization");
    assert_eq!(v["email_verified"], true);
    let (st, _) = t
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"email": owner, "verification_code": code}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a code works once");

    let (st, org) = t
        .post("/api/v1/organizations", Some(&s(&v["access_token"])), json!({"organization_name": "Acme Corp", "industry": "e-commerce", "company_size": "50-100"}))
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{org}");
    assert_eq!(org["slug"], "acme-corp");
    assert_eq!(org["onboarding_status"], "research_queued");
    assert!(s(&org["dashboard_url"]).ends_with("/acme-corp"));
    let org_id = uuid(&org["organization_id"]);
    let admin = s(&org["access_token"]);

    // A second organisation with the same name gets its own slug.
    let (_, _, other_admin) = t.org_admin(&email("jane"), "Acme Corp").await?;
    let (_, mine) = t.get("/api/v1/auth/me", &other_admin).await?;
    assert_eq!(mine["organizations"][0]["slug"], "acme-corp-2");

    let member_email = email("sarah");
    let (st, inv) = t
        .post(
            &format!("/api/v1/organizations/{org_id}/invitations"),
            Some(&admin),
            json!({"email": member_email, "role": "member", "permissions": {"prd_builder": ["read", "write"], "research": ["read"]}, "custom_message": "Join us!"}),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["status"], "sent");
    let mail = t.mail(&member_email);
    assert!(
        mail.last()
            .expect("invitation mail")
            .text
            .contains("Join us!")
    );
    let (st, _) = t
        .post(
            &format!("/api/v1/organizations/{org_id}/invitations"),
            Some(&admin),
            json!({"email": member_email, "role": "member"}),
        )
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "one pending invitation per email");

    let token = s(&inv["invitation_link"])
        .split("token=")
        .nth(1)
        .expect("token")
        .to_string();
    let accept = format!("/api/v1/invitations/{}/accept", s(&inv["invitation_id"]));
    let (st, _) = t
        .post(
            &accept,
            None,
            json!({"token": "wrong", "full_name": "S", "password": "Another-Pass-987"}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "the link's secret is required");
    let (st, joined) = t
        .post(
            &accept,
            None,
            json!({"token": token, "full_name": "Sarah", "password": "Another-Pass-987"}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "member");
    assert_eq!(joined["permissions"]["research"], json!(["read"]));
    let (st, _) = t
        .post(
            &accept,
            None,
            json!({"token": token, "full_name": "Sarah", "password": "Another-Pass-987"}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "an invitation is used once");

    let (st, members) = t
        .get(
            &format!("/api/v1/organizations/{org_id}/members"),
            &s(&joined["access_token"]),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "the member lists members: {members}");
    assert_eq!(members["total_members"], 2);
    assert_eq!(members["pending_invitations"], 0);

    // Another organisation's admin gets 404 for everything of this one.
    let other_user = t.verified_user(&email("eve")).await?;
    for token in [other_admin.as_str(), other_user.1.as_str()] {
        for (m, path, body) in [
            (Method::GET, format!("/api/v1/organizations/{org_id}"), None),
            (
                Method::PATCH,
                format!("/api/v1/organizations/{org_id}"),
                Some(json!({"industry": "x"})),
            ),
            (
                Method::GET,
                format!("/api/v1/organizations/{org_id}/members"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/organizations/{org_id}/invitations"),
                Some(json!({"email": email("x"), "role": "member"})),
            ),
            (
                Method::PATCH,
                format!(
                    "/api/v1/organizations/{org_id}/members/{}",
                    joined["user_id"].as_str().unwrap_or_default()
                ),
                Some(json!({"role": "viewer"})),
            ),
            (
                Method::DELETE,
                format!(
                    "/api/v1/organizations/{org_id}/members/{}",
                    joined["user_id"].as_str().unwrap_or_default()
                ),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/organizations/{org_id}/audit-logs"),
                None,
            ),
        ] {
            let (st, body) = t.call(m.clone(), &path, Some(token), body).await?;
            assert_eq!(st, StatusCode::NOT_FOUND, "{m} {path}: {body}");
        }
    }

    let events = t.outbox_types().await?;
    for e in [
        "user_signed_up",
        "organization_created",
        "member_invited",
        "member_joined",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
    Ok(())
}

#[tokio::test]
async fn signup_refuses_bad_input_and_does_not_reveal_accounts() -> anyhow::Result<()> {
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
        let (st, p) = t.post("/api/v1/auth/signup", None, body.clone()).await?;
        assert_eq!(st.as_u16(), want, "{body}: {p}");
        assert!(s(&p["detail"]).contains(field), "{body} names {field}: {p}");
    }
    // Words that look like SQL are ordinary text.
    let (st, _) = t
        .post("/api/v1/auth/signup", None, json!({"email": email("bob"), "password": "SecurePass123!", "full_name": "Robert'); DROP TABLE users;--", "company_name": "Select Update Ltd"}))
        .await?;
    assert_eq!(st, StatusCode::CREATED);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *t.sys().await?)
        .await?;
    assert_eq!(users, 1, "only the valid signup created a user");

    // Signing up again with a verified address looks the same, creates nothing, and tells the
    // owner by email.
    let existing = email("kim");
    t.verified_user(&existing).await?;
    let (st, again) = t
        .post("/api/v1/auth/signup", None, signup_body(&existing))
        .await?;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(again["verification_status"], "pending");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE lower(email) = $1")
        .bind(&existing)
        .fetch_one(&mut *t.sys().await?)
        .await?;
    assert_eq!(n, 1);
    assert!(
        t.mail(&existing)
            .iter()
            .any(|m| m.subject.contains("tried to sign up"))
    );
    Ok(())
}

#[tokio::test]
async fn login_lockout_refresh_rotation_and_logout() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _admin_id, _) = t.org_admin(&email("owner"), "Lock Corp").await?;
    let user = email("user");
    let (_, admin_token, _) = t.org_admin(&user, "User Corp").await?;
    let _ = (org, admin_token);
    let login = |pw: &str| json!({"email": user, "password": pw});

    let (st, ok) = t
        .post("/api/v1/auth/login", None, login("SecurePass123!"))
        .await?;
    assert_eq!(st, StatusCode::OK, "{ok}");
    assert_eq!(ok["organizations"][0]["organization_name"], "User Corp");
    assert!(ok["organization_id"].is_string());

    let (st, wrong) = t
        .post("/api/v1/auth/login", None, login("WrongPass123!"))
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, unknown) = t
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email("nobody"), "password": "WrongPass123!"}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong["detail"], unknown["detail"],
        "an unknown email looks like a wrong password"
    );

    for _ in 0..4 {
        t.post("/api/v1/auth/login", None, login("WrongPass123!"))
            .await?;
    }
    let (st, locked) = t
        .post("/api/v1/auth/login", None, login("SecurePass123!"))
        .await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "five failures lock even the right password out"
    );
    assert_eq!(locked["detail"], wrong["detail"]);
    // Fifteen minutes later the lock is over.
    let mut tx = t.sys().await?;
    let n = sqlx::query("UPDATE users SET locked_until = now() - interval '1 second' WHERE lower(email) = $1 AND locked_until > now()")
        .bind(&user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    assert_eq!(n, 1, "the account was locked");
    let (st, ok) = t
        .post("/api/v1/auth/login", None, login("SecurePass123!"))
        .await?;
    assert_eq!(st, StatusCode::OK, "{ok}");
    let audit: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_logs")
        .fetch_all(&mut *t.sys().await?)
        .await?;
    assert!(
        audit.iter().any(|a| a == "account_locked") && audit.iter().any(|a| a == "login_failed")
    );

    // Rotation: each refresh token works once; replaying one revokes the whole sign-in.
    let r1 = s(&ok["refresh_token"]);
    let (st, n1) = t
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await?;
    assert_eq!(st, StatusCode::OK, "{n1}");
    let r2 = s(&n1["refresh_token"]);
    assert_ne!(r1, r2);
    let (st, _) = t
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a rotated token is refused");
    let (st, _) = t
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r2}))
        .await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "and its whole family is revoked"
    );

    // Logout ends the sign-in.
    let (_, ok) = t
        .post("/api/v1/auth/login", None, login("SecurePass123!"))
        .await?;
    let r = s(&ok["refresh_token"]);
    let (st, _) = t
        .post("/api/v1/auth/logout", None, json!({"refresh_token": r}))
        .await?;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = t
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r}))
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(
        t.outbox_types()
            .await?
            .iter()
            .any(|e| e == "user_logged_in")
    );

    // An organisation admin can lift a lockout early; another organisation's admin cannot.
    for _ in 0..5 {
        t.post("/api/v1/auth/login", None, login("WrongPass123!"))
            .await?;
    }
    let (st, _) = t
        .post("/api/v1/auth/login", None, login("SecurePass123!"))
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "locked again");
    let me = s(&ok["organization_id"]);
    let uid = s(&ok["user_id"]);
    let (_, _, stranger) = t.org_admin(&email("stranger"), "Stranger Org").await?;
    let (st, _) = t
        .post(
            &format!("/api/v1/organizations/{me}/members/{uid}/unlock"),
            Some(&stranger),
            json!({}),
        )
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Signed out, but the access token from before the lockout is still valid for its minutes.
    let admin_token = s(&ok["access_token"]);
    let (st, un) = t
        .post(
            &format!("/api/v1/organizations/{me}/members/{uid}/unlock"),
            Some(&admin_token),
            json!({}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{un}");
    assert_eq!(un["unlocked"], true);
    let (st, _) = t
        .post("/api/v1/auth/login", None, login("SecurePass123!"))
        .await?;
    assert_eq!(st, StatusCode::OK, "unlocked by the admin");

    // Two concurrent uses of one refresh token: exactly one wins.
    let (_, ok) = t
        .post("/api/v1/auth/login", None, login("SecurePass123!"))
        .await?;
    let r = s(&ok["refresh_token"]);
    let (a, b) = tokio::join!(
        t.post("/api/v1/auth/refresh", None, json!({"refresh_token": r})),
        t.post("/api/v1/auth/refresh", None, json!({"refresh_token": r}))
    );
    let wins = [a?.0, b?.0]
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert_eq!(wins, 1);
    Ok(())
}

#[tokio::test]
async fn members_roles_last_admin_and_removal_revokes_sessions() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, admin_id, admin) = t.org_admin(&email("boss"), "Roles Inc").await?;
    let (member_id, member, member_refresh) = t.member(org, &admin, &email("m"), "member").await?;
    let path = |u: Uuid| format!("/api/v1/organizations/{org}/members/{u}");

    let (st, _) = t
        .call(
            Method::PATCH,
            &path(admin_id),
            Some(&member),
            Some(json!({"role": "viewer"})),
        )
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "members cannot change roles");
    let (st, body) = t
        .call(
            Method::PATCH,
            &path(admin_id),
            Some(&admin),
            Some(json!({"role": "member"})),
        )
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    let (st, body) = t
        .call(Method::DELETE, &path(admin_id), Some(&admin), None)
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    for bad in [
        json!({"role": "owner"}),
        json!({"permissions": {"billing": ["read"]}}),
        json!({"permissions": {"research": ["delete"]}}),
        json!({"permissions": {"research": "read"}}),
        json!({}),
    ] {
        let (st, body) = t
            .call(
                Method::PATCH,
                &path(member_id),
                Some(&admin),
                Some(bad.clone()),
            )
            .await?;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (st, up) = t
        .call(
            Method::PATCH,
            &path(member_id),
            Some(&admin),
            Some(json!({"role": "admin"})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{up}");
    assert_eq!(up["role"], "admin");
    assert_eq!(up["updated_by"], admin_id.to_string());
    // Now two admins: one may step down.
    let (st, _) = t
        .call(
            Method::PATCH,
            &path(member_id),
            Some(&admin),
            Some(json!({"role": "viewer"})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = t
        .call(
            Method::PATCH,
            &path(Uuid::new_v4()),
            Some(&admin),
            Some(json!({"role": "viewer"})),
        )
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (st, removed) = t
        .call(Method::DELETE, &path(member_id), Some(&admin), None)
        .await?;
    assert_eq!(st, StatusCode::OK, "{removed}");
    assert_eq!(removed["access_revoked"], true);
    let (st, _) = t
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": member_refresh}),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the removed member's sessions ended at once"
    );
    let (st, _) = t
        .get(&format!("/api/v1/organizations/{org}/members"), &member)
        .await?;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "the removed member's still-valid access token reaches nothing"
    );

    let events = t.outbox_types().await?;
    assert!(
        events.iter().any(|e| e == "member_role_updated")
            && events.iter().any(|e| e == "member_removed")
    );
    let (old, new): (String, String) = sqlx::query_as(
        "SELECT payload->'data'->>'old_role', payload->'data'->>'new_role' FROM outbox WHERE event_type = 'member_role_updated' ORDER BY id LIMIT 1",
    )
    .fetch_one(&t.s.db.owner)
    .await?;
    assert_eq!((old.as_str(), new.as_str()), ("member", "admin"));
    Ok(())
}

#[tokio::test]
async fn organisation_settings_and_audit_export() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, admin_id, admin) = t.org_admin(&email("cfo"), "Brand Co").await?;
    let (_, viewer, _) = t.member(org, &admin, &email("v"), "viewer").await?;
    let path = format!("/api/v1/organizations/{org}");
    let (st, o) = t.call(Method::PATCH, &path, Some(&admin), Some(json!({"branding": {"primary_color": "#112233"}, "settings": {"mfa_required": true}, "website": "https://brand.example"}))).await?;
    assert_eq!(st, StatusCode::OK, "{o}");
    assert_eq!(o["branding"]["primary_color"], "#112233");
    assert_eq!(o["settings"]["mfa_required"], true);
    for bad in [
        json!({"branding": {"primary_color": "red"}}),
        json!({"website": "javascript:alert(1)"}),
        json!({"settings": {"unknown": 1}}),
        json!({"organization_name": "x"}),
    ] {
        let (st, body) = t
            .call(Method::PATCH, &path, Some(&admin), Some(bad.clone()))
            .await?;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (st, _) = t
        .call(
            Method::PATCH,
            &path,
            Some(&viewer),
            Some(json!({"industry": "x"})),
        )
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, got) = t.get(&path, &viewer).await?;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["website"], "https://brand.example");

    let (st, logs) = t
        .get(
            &format!("{path}/audit-logs?action=organization_updated"),
            &admin,
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{logs}");
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["records"][0]["actor_id"], admin_id.to_string());
    assert!(
        logs["records"][0]["ip_address"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("198.51.100."))
    );
    let (st, all) = t.get(&format!("{path}/audit-logs?limit=2"), &admin).await?;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(all["records"].as_array().map(Vec::len), Some(2));
    assert!(all["total"].as_i64().unwrap_or(0) >= 3);
    let res =
        t.s.http
            .get(t.s.url(&format!("{path}/audit-logs?format=csv")))
            .bearer_auth(&admin)
            .send()
            .await?;
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = res.text().await?;
    assert!(
        csv.starts_with("id,timestamp,action,") && csv.contains("\"member_invited\""),
        "{csv}"
    );
    for q in [
        "format=xml",
        "from=yesterday",
        "limit=0",
        "page=0",
        "unknown=1",
    ] {
        let (st, body) = t.get(&format!("{path}/audit-logs?{q}"), &admin).await?;
        assert!(
            st == StatusCode::UNPROCESSABLE_ENTITY || st == StatusCode::BAD_REQUEST,
            "{q}: {st} {body}"
        );
    }
    let (st, _) = t.get(&format!("{path}/audit-logs"), &viewer).await?;
    assert_eq!(st, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn password_reset_is_single_use_and_ends_sessions() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = email("pat");
    let (_, _, refresh) = t.verified_user(&user).await?;
    let (st, a) = t
        .post("/api/v1/auth/password-reset", None, json!({"email": user}))
        .await?;
    let (st2, b) = t
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": email("ghost")}),
        )
        .await?;
    assert_eq!((st, st2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(a, b, "the same answer for an unknown address");
    let mail = t.mail(&user);
    let text = &mail
        .iter()
        .rev()
        .find(|m| m.subject == "Reset your password")
        .expect("reset mail")
        .text;
    let token = text
        .split("token=")
        .nth(1)
        .expect("token")
        .split_whitespace()
        .next()
        .expect("t")
        .to_string();

    let (st, p) = t
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "new_password": "weak"}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (st, _) = t
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "new_password": "Brand-New-Pass-42"}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = t
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "new_password": "Other-New-Pass-43"}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "single use");
    let (st, _) = t
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "sessions ended");
    let (st, _) = t
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": user, "password": "SecurePass123!"}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = t
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": user, "password": "Brand-New-Pass-42"}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() -> anyhow::Result<()> {
    let t = svc().await?;
    let body = json!({"email": "x@gmail.com", "password": "SecurePass123!", "full_name": "J", "company_name": "Acme"});
    let calls = (0..12).map(|_| t.post("/api/v1/auth/signup", None, body.clone()));
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.map(|(s, _)| s.as_u16()).unwrap_or(0))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        10,
        "ten per hour per IP: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2);
    let res =
        t.s.http
            .post(t.s.url("/api/v1/auth/signup"))
            .header("x-forwarded-for", &t.ip)
            .json(&body)
            .send()
            .await?;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"].to_str()?.parse()?;
    assert!(wait > 0 && wait <= 3600);
    // Another address is not affected.
    let res =
        t.s.http
            .post(t.s.url("/api/v1/auth/signup"))
            .header("x-forwarded-for", "192.0.2.77")
            .json(&body)
            .send()
            .await?;
    assert_eq!(res.status(), 422);
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

#[tokio::test]
async fn jwks_verifies_the_tokens_org_auth_issues() -> anyhow::Result<()> {
    use kit::auth::{JwksSource, Verifier, VerifierConfig};
    let t = svc().await?;
    let (_, token, _) = t.verified_user(&email("jw")).await?;
    let v = Verifier::new(VerifierConfig {
        issuer: testkit::ISSUER.into(),
        audience: testkit::AUDIENCE.into(),
        leeway: Duration::from_secs(5),
        source: JwksSource::Remote {
            url: t.s.url("/.well-known/jwks.json"),
            min_refresh: Duration::from_secs(1),
        },
    })?;
    let claims = v.verify(&token).await?;
    assert_eq!(claims.user_type, kit::auth::UserType::Client);
    let (st, me) = t.get("/api/v1/auth/me", &token).await?;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["user_type"], "client");
    assert_eq!(me["organizations"], json!([]));
    let (_, bare) = t.get("/api/v1/auth/me?organizations=false", &token).await?;
    assert!(bare.get("organizations").is_none(), "{bare}");
    assert_eq!(bare["user_id"], me["user_id"]);
    let (st, _) = t.get("/api/v1/auth/me?organizations=maybe", &token).await?;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = t.call(Method::GET, "/api/v1/auth/me", None, None).await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let agent = t.s.tokens.agent(
        Uuid::new_v4(),
        Uuid::new_v4(),
        &["sales_agent", "onboarding_specialist"],
    );
    let (_, me) = t.get("/api/v1/auth/me", &agent).await?;
    assert_eq!(
        me["all_roles"],
        json!(["sales_agent", "onboarding_specialist"])
    );
    Ok(())
}

/// An agent's token plus the gateway's permission headers (what Kong injects).
struct Agent {
    token: String,
    agent_id: Uuid,
    permissions: Option<String>,
}

impl Svc {
    fn agent(&self, roles: &[&str], permissions: Option<Value>) -> Agent {
        let agent_id = Uuid::new_v4();
        Agent {
            token: self.s.tokens.agent(Uuid::new_v4(), agent_id, roles),
            agent_id,
            permissions: permissions.map(|p| p.to_string()),
        }
    }

    async fn as_agent(
        &self,
        a: &Agent,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self
            .s
            .http
            .request(method, self.s.url(path))
            .header("x-forwarded-for", &self.ip)
            .bearer_auth(&a.token);
        if let Some(p) = &a.permissions {
            req = req
                .header("x-agent-id", a.agent_id.to_string())
                .header("x-agent-permissions", p);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let st = res.status();
        let text = res.text().await?;
        Ok((
            st,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
}

fn assisted_body(email: &str) -> Value {
    json!({"client_email": email, "client_name": "Casey Client", "company_name": "Example Corp",
           "company_website": "https://example-corp.test", "industry": "retail", "company_size": "10-50",
           "notes": "Met at the trade fair"})
}

#[tokio::test]
async fn assisted_signup_claim_and_management() -> anyhow::Result<()> {
    let t = svc().await?;
    let full = json!({"assisted_signup": ["create", "read", "update"]});
    let sales = t.agent(&["sales_agent"], Some(full.clone()));
    let other_sales = t.agent(&["sales_agent"], Some(full.clone()));
    let no_perm = t.agent(&["sales_agent"], Some(json!({"research": ["read"]})));
    let admin = t.agent(&["platform_admin"], None);
    let client = t.org_admin(&email("cli"), "Client Org").await?.2;
    let path = "/api/v1/auth/assisted-signup";

    let (st, _) = t
        .as_agent(
            &no_perm,
            Method::POST,
            path,
            Some(assisted_body(&email("c"))),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "assisted_signup.create is required"
    );
    // Spoofed permission headers for another agent id are ignored.
    let spoof = Agent {
        token: no_perm.token.clone(),
        agent_id: Uuid::new_v4(),
        permissions: Some(full.to_string()),
    };
    let (st, _) = t
        .as_agent(&spoof, Method::POST, path, Some(assisted_body(&email("c"))))
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = t
        .post(path, Some(&client), assisted_body(&email("c")))
        .await?;
    assert_eq!(st, StatusCode::FORBIDDEN, "clients cannot");
    let (st, p) = t
        .as_agent(
            &sales,
            Method::POST,
            path,
            Some(json!({"client_email": "c@gmail.com", "client_name": "C", "company_name": "Co"})),
        )
        .await?;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    let client_email = email("casey");
    let (st, created) = t
        .as_agent(
            &sales,
            Method::POST,
            path,
            Some(assisted_body(&client_email)),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["account_status"], "assisted_unclaimed");
    assert_eq!(created["created_by_agent_id"], sales.agent_id.to_string());
    assert_eq!(created["created_by_agent_role"], "sales_agent");
    let claim = s(&created["claim_token"]);
    assert!(
        claim.starts_with("CLAIM-") && claim.len() >= 38,
        "≥ 128 bits: {claim}"
    );
    assert!(s(&created["temporary_access_token"]).starts_with("temp_"));
    let user_id = uuid(&created["user_id"]);
    let (st, _) = t
        .as_agent(
            &admin,
            Method::POST,
            path,
            Some(assisted_body(&client_email)),
        )
        .await?;
    assert_eq!(st, StatusCode::CONFLICT, "one account per email");
    let stored: String =
        sqlx::query_scalar("SELECT claim_token_hash FROM assisted_accounts WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *t.sys().await?)
            .await?;
    assert_ne!(stored, claim, "only a digest is stored");
    assert!(
        t.mail(&client_email)
            .iter()
            .any(|m| m.text.contains(&claim)),
        "the claim email carries the link"
    );
    let event: Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE event_type = 'assisted_account_created'",
    )
    .fetch_one(&t.s.db.owner)
    .await?;
    assert_eq!(
        event["data"]["created_by_agent_id"],
        sales.agent_id.to_string()
    );
    assert!(
        !event.to_string().contains(&claim),
        "the claim token never travels in events"
    );

    // Reading: the creator and platform admins; other sales agents get 404.
    let one = format!("/api/v1/auth/assisted-accounts/{user_id}");
    let (st, got) = t.as_agent(&sales, Method::GET, &one, None).await?;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(got["notes"], "Met at the trade fair");
    assert_eq!(
        t.as_agent(&admin, Method::GET, &one, None).await?.0,
        StatusCode::OK
    );
    assert_eq!(
        t.as_agent(&other_sales, Method::GET, &one, None).await?.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.get(&one, &client).await?.0, StatusCode::FORBIDDEN);

    // Listing: summary counts, a sales agent's own only.
    t.as_agent(
        &other_sales,
        Method::POST,
        path,
        Some(assisted_body(&email("dana"))),
    )
    .await?;
    let (st, list) = t
        .as_agent(
            &admin,
            Method::GET,
            "/api/v1/auth/assisted-accounts?status=unclaimed&sort_by=expires_at&order=asc&limit=1",
            None,
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["summary"]["total_unclaimed"], 2);
    assert_eq!(list["pagination"]["total_pages"], 2);
    assert_eq!(list["accounts"].as_array().map(Vec::len), Some(1));
    let (_, mine) = t
        .as_agent(
            &sales,
            Method::GET,
            &format!(
                "/api/v1/auth/assisted-accounts?agent_id={}",
                other_sales.agent_id
            ),
            None,
        )
        .await?;
    assert_eq!(
        mine["pagination"]["total_accounts"], 1,
        "a sales agent sees only its own: {mine}"
    );
    assert_eq!(mine["accounts"][0]["user_id"], user_id.to_string());
    for q in [
        "status=lost",
        "sort_by=email",
        "order=up",
        "limit=500",
        "page=0",
    ] {
        let (st, body) = t
            .as_agent(
                &admin,
                Method::GET,
                &format!("/api/v1/auth/assisted-accounts?{q}"),
                None,
            )
            .await?;
        assert!(
            st == StatusCode::UNPROCESSABLE_ENTITY || st == StatusCode::BAD_REQUEST,
            "{q}: {body}"
        );
    }

    // Temporary access: at most 72 hours.
    let access = format!("{one}/access");
    let (st, _) = t
        .as_agent(
            &sales,
            Method::POST,
            &access,
            Some(json!({"reason": "demo prep", "duration_hours": 73})),
        )
        .await?;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, g) = t
        .as_agent(
            &sales,
            Method::POST,
            &access,
            Some(json!({"reason": "Setting up demo data", "duration_hours": 24})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{g}");
    let temp = s(&g["temporary_access_token"]);
    let claims =
        t.s.tokens
            .verifier
            .verify_now(temp.trim_start_matches("temp_"))?;
    assert_eq!(claims.scope.as_deref(), Some("assisted_access"));
    assert_eq!(
        claims.organization_id,
        Some(uuid(&created["organization_id"]))
    );
    assert!(claims.exp - claims.iat <= 24 * 3600);
    assert_eq!(
        t.as_agent(
            &other_sales,
            Method::POST,
            &access,
            Some(json!({"reason": "peek", "duration_hours": 1}))
        )
        .await?
        .0,
        StatusCode::NOT_FOUND
    );

    // Resend: a new link; the old one stops working.
    let (st, r) = t
        .as_agent(
            &sales,
            Method::POST,
            &format!("{one}/resend-claim"),
            Some(json!({"custom_message": "Here is your link again"})),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{r}");
    let new_claim = s(&r["claim_url"])
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_ne!(new_claim, claim);

    // Claim.
    let claim_path = "/api/v1/auth/claim-account";
    let (st, _) = t
        .post(
            claim_path,
            None,
            json!({"claim_token": new_claim, "password": "Claimed-Pass-55", "accept_terms": false}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = t
        .post(
            claim_path,
            None,
            json!({"claim_token": claim, "password": "Claimed-Pass-55", "accept_terms": true}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "the rotated-out link is dead");
    let (st, done) = t.post(claim_path, None, json!({"claim_token": new_claim.to_lowercase(), "password": "Claimed-Pass-55", "accept_terms": true})).await?;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["account_status"], "claimed");
    assert_eq!(done["role"], "admin");
    let (st, _) = t
        .post(
            claim_path,
            None,
            json!({"claim_token": new_claim, "password": "Claimed-Pass-55", "accept_terms": true}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a claim works once");
    let (st, li) = t
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": client_email, "password": "Claimed-Pass-55"}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{li}");
    assert_eq!(li["organizations"][0]["role"], "admin");
    let (_, got) = t.as_agent(&admin, Method::GET, &one, None).await?;
    assert_eq!(got["account_status"], "claimed");
    let events = t.outbox_types().await?;
    for e in [
        "assisted_account_created",
        "assisted_account_access_granted",
        "claim_link_resent",
        "assisted_account_claimed",
    ] {
        assert!(events.iter().any(|x| x == e), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn unclaimed_accounts_are_reminded_then_expire_and_lock() -> anyhow::Result<()> {
    let spawned =
        testkit::spawn_with(&org_auth::SERVICE, &[("ORG_AUTH_EXPIRY_SWEEP_SECS", "1")]).await?;
    let t = Svc {
        s: spawned,
        ip: "203.0.113.9".into(),
    };
    let admin = t.agent(&["platform_admin"], None);
    let (e1, e2) = (email("soon"), email("late"));
    let (_, a) = t
        .as_agent(
            &admin,
            Method::POST,
            "/api/v1/auth/assisted-signup",
            Some(assisted_body(&e1)),
        )
        .await?;
    let (_, b) = t
        .as_agent(
            &admin,
            Method::POST,
            "/api/v1/auth/assisted-signup",
            Some(assisted_body(&e2)),
        )
        .await?;
    let mut tx = t.sys().await?;
    sqlx::query(
        "UPDATE assisted_accounts SET expires_at = now() + interval '6 days' WHERE user_id = $1",
    )
    .bind(uuid(&a["user_id"]))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE assisted_accounts SET expires_at = now() - interval '1 minute' WHERE user_id = $1",
    )
    .bind(uuid(&b["user_id"]))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let expired = t
            .outbox_types()
            .await?
            .iter()
            .any(|e| e == "assisted_account_expired");
        let reminded = t
            .mail(&e1)
            .iter()
            .any(|m| m.subject.starts_with("Reminder"));
        if expired && reminded {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep did not run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // another sweep: nothing repeats
    assert_eq!(
        t.mail(&e1)
            .iter()
            .filter(|m| m.subject.starts_with("Reminder"))
            .count(),
        1,
        "one reminder"
    );
    assert_eq!(
        t.outbox_types()
            .await?
            .iter()
            .filter(|e| *e == "assisted_account_expired")
            .count(),
        1
    );
    let status: String = sqlx::query_scalar("SELECT account_status FROM users WHERE id = $1")
        .bind(uuid(&b["user_id"]))
        .fetch_one(&mut *t.sys().await?)
        .await?;
    assert_eq!(status, "locked");
    let claim = s(&b["claim_token"]);
    let (st, _) = t
        .post(
            "/api/v1/auth/claim-account",
            None,
            json!({"claim_token": claim, "password": "Claimed-Pass-55", "accept_terms": true}),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "an expired account cannot be claimed"
    );
    Ok(())
}

#[tokio::test]
async fn grpc_api_for_peers_with_the_service_credential() -> anyhow::Result<()> {
    use kit::contracts::workflow::org_auth::v1::{
        CheckMembershipRequest, CreateAgentUserRequest, GetOrganizationRequest, GetUserRequest,
        ListMembersRequest, org_auth_client::OrgAuthClient,
    };
    use kit::tonic::{self, Request, metadata::MetadataValue};
    const CRED: &str = "internal-credential-for-tests-0123456789abcdef";
    let spawned =
        testkit::spawn_with(&org_auth::SERVICE, &[("FLEET_INTERNAL_TOKEN", CRED)]).await?;
    let t = Svc {
        s: spawned,
        ip: "203.0.113.44".into(),
    };
    let (org, admin_id, _) = t.org_admin(&email("grpc"), "Grpc Org").await?;
    let channel = tonic::transport::Channel::from_shared(t.s.grpc.clone())?
        .connect()
        .await?;
    let mut client = OrgAuthClient::new(channel);
    fn auth<T>(mut r: Request<T>) -> Request<T> {
        r.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {CRED}")).expect("ascii"),
        );
        r
    }

    let denied = client
        .get_organization(GetOrganizationRequest {
            organization_id: org.to_string(),
        })
        .await;
    assert_eq!(
        denied.expect_err("no credential").code(),
        tonic::Code::Unauthenticated
    );

    let o = client
        .get_organization(auth(Request::new(GetOrganizationRequest {
            organization_id: org.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(o.name, "Grpc Org");
    assert_eq!(o.slug, "grpc-org");
    let missing = client
        .get_organization(auth(Request::new(GetOrganizationRequest {
            organization_id: Uuid::new_v4().to_string(),
        })))
        .await;
    assert_eq!(missing.expect_err("unknown").code(), tonic::Code::NotFound);
    let bad = client
        .get_organization(auth(Request::new(GetOrganizationRequest {
            organization_id: "x".into(),
        })))
        .await;
    assert_eq!(
        bad.expect_err("not a uuid").code(),
        tonic::Code::InvalidArgument
    );

    let members = client
        .list_members(auth(Request::new(ListMembersRequest {
            organization_id: org.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(members.members.len(), 1);
    assert_eq!(members.members[0].role, "admin");
    let (other_org, _, _) = t.org_admin(&email("grpc2"), "Other Org").await?;
    let check = |o: Uuid| CheckMembershipRequest {
        organization_id: o.to_string(),
        user_id: admin_id.to_string(),
    };
    assert!(
        client
            .check_membership(auth(Request::new(check(org))))
            .await?
            .into_inner()
            .member
    );
    assert!(
        !client
            .check_membership(auth(Request::new(check(other_org))))
            .await?
            .into_inner()
            .member,
        "a member of one org is not a member of another"
    );
    let user = client
        .get_user(auth(Request::new(GetUserRequest {
            user_id: admin_id.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(user.user_type, "client");

    // human-agent registering an agent: a login is created and a set-password link mailed.
    let agent_id = Uuid::new_v4();
    let agent_email = email("agent");
    let created = client
        .create_agent_user(auth(Request::new(CreateAgentUserRequest {
            email: agent_email.clone(),
            full_name: "Sam Peterson".into(),
            agent_id: agent_id.to_string(),
            primary_role: "sales_agent".into(),
        })))
        .await?
        .into_inner();
    assert!(created.password_link_sent);
    let again = client
        .create_agent_user(auth(Request::new(CreateAgentUserRequest {
            email: agent_email.clone(),
            full_name: "Sam".into(),
            agent_id: agent_id.to_string(),
            primary_role: "sales_agent".into(),
        })))
        .await;
    assert_eq!(
        again.expect_err("duplicate").code(),
        tonic::Code::AlreadyExists
    );
    let (st, _) = t
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": agent_email, "password": "Agent-Pass-2026!"}),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "no password until the agent sets one"
    );
    let mail = t.mail(&agent_email);
    let text = &mail
        .iter()
        .find(|m| m.subject == "Set your password")
        .expect("set-password mail")
        .text;
    let token = text
        .split("token=")
        .nth(1)
        .expect("token")
        .split_whitespace()
        .next()
        .expect("t")
        .to_string();
    let (st, _) = t
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "new_password": "Agent-Pass-2026!"}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    let (st, li) = t
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": agent_email, "password": "Agent-Pass-2026!"}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{li}");
    let claims = t.s.tokens.verifier.verify_now(&s(&li["access_token"]))?;
    assert_eq!(claims.user_type, kit::auth::UserType::Agent);
    assert_eq!(claims.agent_id, Some(agent_id));
    assert_eq!(claims.primary_role.as_deref(), Some("sales_agent"));
    assert_eq!(claims.organization_id, None);
    Ok(())
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut n, mut out) = (0u64, 0u32, Vec::new());
    for c in s.chars() {
        bits = (bits << 5) | A.find(c).expect("base32") as u64;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// The code of the time step `offset` steps from now.
fn totp(secret: &[u8], offset: i64) -> String {
    let step = (time::OffsetDateTime::now_utc().unix_timestamp() / 30 + offset) as u64;
    format!("{:06}", org_auth::hotp(secret, step))
}

#[tokio::test]
async fn totp_mfa_enrol_login_recovery_lockout_disable() -> anyhow::Result<()> {
    let t = svc().await?;
    let user = email("mfa");
    let (_, _, token) = t.org_admin(&user, "Mfa Org").await?;
    let (st, e) = t
        .post("/api/v1/auth/mfa/totp/enroll", Some(&token), json!({}))
        .await?;
    assert_eq!(st, StatusCode::OK, "{e}");
    assert!(s(&e["otpauth_uri"]).starts_with("otpauth://totp/Workflow:"));
    let secret = base32_decode(&s(&e["secret"]));
    assert_eq!(secret.len(), 20);
    let (st, _) = t
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({"code": "000000"}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, c) = t
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({"code": totp(&secret, -1)}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{c}");
    let recovery: Vec<String> = c["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(s)
        .collect();
    assert_eq!(recovery.len(), 10);
    let stored: String = sqlx::query_scalar("SELECT secret_sealed FROM mfa_totp")
        .fetch_one(&mut *t.sys().await?)
        .await?;
    assert!(
        !stored.contains(&s(&e["secret"])),
        "the secret is sealed at rest"
    );

    let login = json!({"email": user, "password": "SecurePass123!"});
    let (st, step) = t.post("/api/v1/auth/login", None, login.clone()).await?;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(step["mfa_required"], true);
    assert!(
        step.get("access_token").is_none(),
        "no tokens before the second step"
    );
    let mfa_token = s(&step["mfa_token"]);
    let (st, _) = t
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": "123456"}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let code = totp(&secret, 0);
    let (st, done) = t
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": code}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert!(done["access_token"].is_string());
    let (st, _) = t
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": code}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a challenge is used once");
    let (_, step) = t.post("/api/v1/auth/login", None, login.clone()).await?;
    let (st, _) = t
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": s(&step["mfa_token"]), "code": code}),
        )
        .await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a code is never accepted twice"
    );

    // A recovery code works, once.
    let (_, step) = t.post("/api/v1/auth/login", None, login.clone()).await?;
    let (st, _) = t
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": s(&step["mfa_token"]), "code": recovery[0]}),
        )
        .await?;
    assert_eq!(st, StatusCode::OK);
    let (_, step) = t.post("/api/v1/auth/login", None, login.clone()).await?;
    let (st, _) = t
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": s(&step["mfa_token"]), "code": recovery[0]}),
        )
        .await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // Wrong codes count toward the lockout like wrong passwords (one failure above already).
    let (_, step) = t.post("/api/v1/auth/login", None, login.clone()).await?;
    for _ in 0..4 {
        t.post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": s(&step["mfa_token"]), "code": "999999"}),
        )
        .await?;
    }
    let (st, _) = t.post("/api/v1/auth/login", None, login.clone()).await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "locked after five failed codes"
    );
    let mut tx = t.sys().await?;
    sqlx::query("UPDATE users SET locked_until = NULL WHERE lower(email) = $1")
        .bind(&user)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    // Disabling needs the password and a code.
    let (st, _) = t
        .post(
            "/api/v1/auth/mfa/disable",
            Some(&token),
            json!({"password": "nope", "code": recovery[1]}),
        )
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = t
        .post(
            "/api/v1/auth/mfa/disable",
            Some(&token),
            json!({"password": "SecurePass123!", "code": recovery[1]}),
        )
        .await?;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, plain) = t.post("/api/v1/auth/login", None, login).await?;
    assert_eq!(st, StatusCode::OK);
    assert!(plain["access_token"].is_string(), "MFA is off again");
    let audit: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_logs")
        .fetch_all(&mut *t.sys().await?)
        .await?;
    for a in [
        "mfa_enabled",
        "login_mfa_challenged",
        "account_locked",
        "mfa_disabled",
    ] {
        assert!(audit.iter().any(|x| x == a), "{a}");
    }
    Ok(())
}

mod oauth {
    use super::*;
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{body_string_contains, header, method, path},
    };

    const REDIRECT: &str = "https://app.test/auth/callback";

    async fn provider_mock() -> MockServer {
        let m = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("code_verifier="))
            .and(body_string_contains("code=good-code"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": "at-1", "token_type": "Bearer"})),
            )
            .mount(&m)
            .await;
        m
    }

    async fn spawn(m: &MockServer, extra: &[(&str, &str)]) -> anyhow::Result<Svc> {
        let base = m.uri();
        let (auth, token, info, emails) = (
            format!("{base}/authorize"),
            format!("{base}/token"),
            format!("{base}/userinfo"),
            format!("{base}/emails"),
        );
        let mut env = vec![
            ("OAUTH_REDIRECT_URIS", REDIRECT),
            ("OAUTH_GOOGLE_CLIENT_ID", "google-client"),
            ("OAUTH_GOOGLE_CLIENT_SECRET", "google-secret"),
            ("OAUTH_GOOGLE_AUTH_URL", auth.as_str()),
            ("OAUTH_GOOGLE_TOKEN_URL", token.as_str()),
            ("OAUTH_GOOGLE_USERINFO_URL", info.as_str()),
            ("OAUTH_GITHUB_CLIENT_ID", "gh-client"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "gh-secret"),
            ("OAUTH_GITHUB_AUTH_URL", auth.as_str()),
            ("OAUTH_GITHUB_TOKEN_URL", token.as_str()),
            ("OAUTH_GITHUB_USERINFO_URL", info.as_str()),
            ("OAUTH_GITHUB_EMAILS_URL", emails.as_str()),
        ];
        env.extend_from_slice(extra);
        let spawned = testkit::spawn_with(&org_auth::SERVICE, &env).await?;
        Ok(Svc {
            s: spawned,
            ip: "203.0.113.80".into(),
        })
    }

    /// Runs authorize, checks the redirect, and returns the state.
    async fn start(t: &Svc, provider: &str) -> anyhow::Result<String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let res = client
            .get(t.s.url(&format!(
                "/api/v1/auth/oauth/{provider}/authorize?redirect_uri={}",
                REDIRECT.replace(':', "%3A").replace('/', "%2F")
            )))
            .send()
            .await?;
        assert_eq!(res.status(), 302);
        let loc = res.headers()["location"].to_str()?.to_string();
        assert!(
            loc.contains("code_challenge_method=S256") && loc.contains("code_challenge="),
            "{loc}"
        );
        assert!(loc.contains("redirect_uri=https%3A%2F%2Fapp.test%2Fauth%2Fcallback"));
        Ok(loc
            .split("state=")
            .nth(1)
            .expect("state")
            .split('&')
            .next()
            .expect("s")
            .to_string())
    }

    async fn finish(t: &Svc, provider: &str, state: &str) -> anyhow::Result<(StatusCode, Value)> {
        t.call(
            Method::GET,
            &format!("/api/v1/auth/oauth/{provider}/callback?code=good-code&state={state}"),
            None,
            None,
        )
        .await
    }

    #[tokio::test]
    async fn google_sign_in_creates_then_finds_the_account() -> anyhow::Result<()> {
        let m = provider_mock().await;
        let who = email("olive");
        Mock::given(method("GET"))
            .and(path("/userinfo"))
            .and(header("authorization", "Bearer at-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"sub": "g-123", "email": who, "email_verified": true, "name": "Olive"}),
            ))
            .mount(&m)
            .await;
        let t = spawn(&m, &[]).await?;
        let (st, _) = t
            .call(
                Method::GET,
                "/api/v1/auth/oauth/myspace/authorize?redirect_uri=x",
                None,
                None,
            )
            .await?;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = t
            .call(
                Method::GET,
                "/api/v1/auth/oauth/google/authorize?redirect_uri=https%3A%2F%2Fevil.test%2Fcb",
                None,
                None,
            )
            .await?;
        assert_eq!(
            st,
            StatusCode::UNPROCESSABLE_ENTITY,
            "only allow-listed redirects"
        );

        let state = start(&t, "google").await?;
        let (st, first) = finish(&t, "google", &state).await?;
        assert_eq!(st, StatusCode::OK, "{first}");
        assert_eq!(first["first_login"], true);
        assert_eq!(first["email"], who);
        assert!(first["access_token"].is_string());
        let (st, _) = finish(&t, "google", &state).await?;
        assert_eq!(st, StatusCode::BAD_REQUEST, "a state is used once");
        let (st, _) = finish(&t, "google", "forged-state").await?;
        assert_eq!(st, StatusCode::BAD_REQUEST);

        let state = start(&t, "google").await?;
        let (st, again) = finish(&t, "google", &state).await?;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(again["first_login"], false);
        assert_eq!(
            again["user_id"], first["user_id"],
            "the linked identity finds the same account"
        );
        Ok(())
    }

    #[tokio::test]
    async fn github_links_to_an_existing_account_by_verified_email_only() -> anyhow::Result<()> {
        let m = provider_mock().await;
        let t = spawn(&m, &[]).await?;
        let who = email("octo");
        let (user, _, _) = t.verified_user(&who).await?;
        Mock::given(method("GET"))
            .and(path("/userinfo"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": 42, "login": "octocat", "email": null})),
            )
            .mount(&m)
            .await;
        Mock::given(method("GET"))
            .and(path("/emails"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"email": "old@acme.com", "primary": false, "verified": true},
                {"email": who, "primary": true, "verified": true}
            ])))
            .mount(&m)
            .await;
        let state = start(&t, "github").await?;
        let (st, linked) = finish(&t, "github", &state).await?;
        assert_eq!(st, StatusCode::OK, "{linked}");
        assert_eq!(linked["user_id"], user.to_string());
        assert_eq!(linked["first_login"], false);
        let audit: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_logs")
            .fetch_all(&mut *t.sys().await?)
            .await?;
        assert!(audit.iter().any(|a| a == "oauth_linked"));
        Ok(())
    }

    #[tokio::test]
    async fn an_unverified_provider_email_is_not_linked_and_provider_failures_are_502()
    -> anyhow::Result<()> {
        let m = provider_mock().await;
        let who = email("sly");
        Mock::given(method("GET"))
            .and(path("/userinfo"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"sub": "g-9", "email": who, "email_verified": false})),
            )
            .mount(&m)
            .await;
        let t = spawn(&m, &[]).await?;
        t.verified_user(&who).await?;
        let state = start(&t, "google").await?;
        let (st, body) = finish(&t, "google", &state).await?;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        // A code the provider rejects.
        let state = start(&t, "google").await?;
        let (st, body) = t
            .call(
                Method::GET,
                &format!("/api/v1/auth/oauth/google/callback?code=bad-code&state={state}"),
                None,
                None,
            )
            .await?;
        assert_eq!(st, StatusCode::BAD_GATEWAY, "{body}");
        assert!(!body.to_string().contains("google-secret"));
        Ok(())
    }
}
