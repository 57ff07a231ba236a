//! TOTP multi-factor sign-in: enrolment, the second login step, recovery codes, the lockout,
//! disabling, and an organisation's `mfa_required` enforced on every path that issues tokens.
use crate::support::*;

fn base32_decode(s: &str) -> Vec<u8> {
    org_auth::base32_decode(s).expect("base32")
}

/// The code of the time step `offset` steps from now.
fn totp(secret: &[u8], offset: i64) -> String {
    org_auth::totp_code(secret, offset)
}

/// A user who enrolled and confirmed TOTP.
struct Enrolled {
    user: String,
    token: String,
    secret: Vec<u8>,
    recovery: Vec<String>,
}

impl Enrolled {
    fn login(&self) -> Value {
        json!({"email": self.user, "password": "SecurePass123!"})
    }
}

/// Turns MFA on for the holder of `token`: its TOTP secret and recovery codes.
async fn enrol(t: &OrgAuth, token: &str) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let e = t
        .post("/api/v1/auth/mfa/totp/enroll")
        .bearer(token)
        .json(json!({}))
        .expect(200)
        .await;
    let secret = base32_decode(&s(&e["secret"]));
    let c = t
        .post("/api/v1/auth/mfa/totp/confirm")
        .bearer(token)
        // The previous step's code, so the current one is still unused for the login.
        .json(json!({"code": totp(&secret, -1)}))
        .expect(200)
        .await;
    let recovery = c["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(s)
        .collect();
    Ok((secret, recovery))
}

/// Turns MFA on for the holder of `token` (for other features' tests): its TOTP secret.
pub async fn turn_on(t: &OrgAuth, token: &str) -> anyhow::Result<Vec<u8>> {
    Ok(enrol(t, token).await?.0)
}

async fn enrolled(t: &OrgAuth) -> anyhow::Result<Enrolled> {
    let user = email("mfa");
    let (_, _, token) = t.org_admin(&user, "Mfa Org").await?;
    let (secret, recovery) = enrol(t, &token).await?;
    Ok(Enrolled {
        user,
        token,
        secret,
        recovery,
    })
}

/// The first login step: its mfa token.
async fn first_step(t: &OrgAuth, e: &Enrolled) -> anyhow::Result<String> {
    let step = t
        .post("/api/v1/auth/login")
        .json(e.login())
        .expect(200)
        .await;
    Ok(s(&step["mfa_token"]))
}

async fn second_step(t: &OrgAuth, mfa_token: &str, code: &str) -> anyhow::Result<StatusCode> {
    Ok(t.post("/api/v1/auth/login/mfa")
        .json(json!({"mfa_token": mfa_token, "code": code}))
        .send()
        .await?
        .status)
}

#[tokio::test]
async fn enrolment_is_confirmed_with_a_current_code_and_the_secret_is_sealed_at_rest()
-> anyhow::Result<()> {
    let t = svc().await?;
    let user = email("mfa");
    let (_, _, token) = t.org_admin(&user, "Mfa Org").await?;
    let (st, e) = t
        .post("/api/v1/auth/mfa/totp/enroll")
        .bearer(&token)
        .json(json!({}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{e}");
    assert!(s(&e["otpauth_uri"]).starts_with("otpauth://totp/Workflow:"));
    let secret = base32_decode(&s(&e["secret"]));
    assert_eq!(secret.len(), 20);
    let confirm = |code: String| {
        t.post("/api/v1/auth/mfa/totp/confirm")
            .bearer(&token)
            .json(json!({"code": code}))
            .send()
    };
    let (st, _) = confirm("000000".into()).await?.parts();
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, c) = confirm(totp(&secret, -1)).await?.parts();
    assert_eq!(st, StatusCode::OK, "{c}");
    let recovery: Vec<String> = c["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(s)
        .collect();
    assert_eq!(recovery.len(), 10);
    let stored: String = sqlx::query_scalar("SELECT secret_sealed FROM mfa_totp")
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert!(
        !stored.contains(&s(&e["secret"])),
        "the secret is sealed at rest"
    );
    let audit = t.audit_actions().await?;
    assert!(audit.iter().any(|x| x == "mfa_enabled"), "mfa_enabled");
    Ok(())
}

#[tokio::test]
async fn login_then_asks_for_a_code_which_is_accepted_once() -> anyhow::Result<()> {
    let t = svc().await?;
    let e = enrolled(&t).await?;
    let (st, step) = t
        .post("/api/v1/auth/login")
        .json(e.login())
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    assert_eq!(step["mfa_required"], true);
    assert!(
        step.get("access_token").is_none(),
        "no tokens before the second step"
    );
    let mfa_token = s(&step["mfa_token"]);
    let st = second_step(&t, &mfa_token, "123456").await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let code = totp(&e.secret, 0);
    let (st, done) = t
        .post("/api/v1/auth/login/mfa")
        .json(json!({"mfa_token": mfa_token, "code": code}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{done}");
    assert!(done["access_token"].is_string());
    let st = second_step(&t, &mfa_token, &code).await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a challenge is used once");
    let next = first_step(&t, &e).await?;
    let st = second_step(&t, &next, &code).await?;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a code is never accepted twice"
    );
    let audit = t.audit_actions().await?;
    assert!(
        audit.iter().any(|x| x == "login_mfa_challenged"),
        "login_mfa_challenged"
    );
    Ok(())
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() -> anyhow::Result<()> {
    let t = svc().await?;
    let e = enrolled(&t).await?;
    // A recovery code works, once.
    let step = first_step(&t, &e).await?;
    let st = second_step(&t, &step, &e.recovery[0]).await?;
    assert_eq!(st, StatusCode::OK);
    let step = first_step(&t, &e).await?;
    let st = second_step(&t, &step, &e.recovery[0]).await?;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout_like_wrong_passwords() -> anyhow::Result<()> {
    let t = svc().await?;
    let e = enrolled(&t).await?;
    let step = first_step(&t, &e).await?;
    second_step(&t, &step, "123456").await?;
    // Wrong codes count toward the lockout like wrong passwords (one failure above already).
    let step = first_step(&t, &e).await?;
    for _ in 0..4 {
        second_step(&t, &step, "999999").await?;
    }
    let (st, _) = t
        .post("/api/v1/auth/login")
        .json(e.login())
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "locked after five failed codes"
    );
    let audit = t.audit_actions().await?;
    assert!(
        audit.iter().any(|x| x == "account_locked"),
        "account_locked"
    );
    Ok(())
}

#[tokio::test]
async fn disabling_takes_the_password_and_a_code() -> anyhow::Result<()> {
    let t = svc().await?;
    let e = enrolled(&t).await?;
    // Disabling needs the password and a code.
    let disable = |password: &str| {
        t.post("/api/v1/auth/mfa/disable")
            .bearer(&e.token)
            .json(json!({"password": password, "code": e.recovery[1]}))
            .send()
    };
    let (st, _) = disable("nope").await?.parts();
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = disable("SecurePass123!").await?.parts();
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, plain) = t
        .post("/api/v1/auth/login")
        .json(e.login())
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    assert!(plain["access_token"].is_string(), "MFA is off again");
    let audit = t.audit_actions().await?;
    assert!(audit.iter().any(|x| x == "mfa_disabled"), "mfa_disabled");
    Ok(())
}

/// Switches `org`'s `mfa_required` on (as its admin).
async fn require_mfa(t: &OrgAuth, org: Uuid, admin: &str) {
    t.patch(&format!("/api/v1/organizations/{org}"))
        .bearer(admin)
        .json(json!({"settings": {"mfa_required": true}}))
        .expect(200)
        .await;
}

/// An enrolment step: no tokens, a secret to set up; the secret.
fn enrolment_step(step: &Value) -> Vec<u8> {
    assert_eq!(step["mfa_required"], true, "{step}");
    assert_eq!(step["mfa_enrollment_required"], true, "{step}");
    assert!(
        step.get("access_token").is_none(),
        "no tokens before MFA: {step}"
    );
    assert!(
        step.get("refresh_token").is_none(),
        "no tokens before MFA: {step}"
    );
    base32_decode(&s(&step["enrollment"]["secret"]))
}

#[tokio::test]
async fn an_organisation_requiring_mfa_has_a_password_login_enrol_before_any_token()
-> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("boss"), "Strict Org").await?;
    let member = email("member");
    t.member(org, &admin, &member, "member").await?;
    require_mfa(&t, org, &admin).await;
    let login = json!({"email": member, "password": "Another-Pass-987"});
    let step = t.post("/api/v1/auth/login").json(&login).expect(200).await;
    let secret = enrolment_step(&step);
    let mfa_token = s(&step["mfa_token"]);
    assert_eq!(
        second_step(&t, &mfa_token, "000000").await?,
        StatusCode::UNAUTHORIZED,
        "a wrong first code"
    );
    let (st, done) = t
        .post("/api/v1/auth/login/mfa")
        .json(json!({"mfa_token": mfa_token, "code": totp(&secret, 0)}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{done}");
    assert!(done["access_token"].is_string());
    assert_eq!(done["recovery_codes"].as_array().map(Vec::len), Some(10));
    // MFA is on now: the next login owes a code, not an enrolment.
    let next = t.post("/api/v1/auth/login").json(&login).expect(200).await;
    assert_eq!(next["mfa_required"], true);
    assert_eq!(next["mfa_enrollment_required"], false);
    assert!(next.get("enrollment").is_none());
    let audit = t.audit_actions().await?;
    assert!(audit.iter().any(|a| a == "login_mfa_enrollment_required"));
    assert!(audit.iter().any(|a| a == "mfa_enabled"));
    Ok(())
}

#[tokio::test]
async fn a_refresh_is_refused_once_an_organisation_requires_mfa_not_set_up() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("boss"), "Strict Org").await?;
    let (_, member_token, refresh) = t.member(org, &admin, &email("member"), "member").await?;
    let (st, renewed) = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": refresh}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{renewed}");
    require_mfa(&t, org, &admin).await;
    let (st, refused) = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": renewed["refresh_token"]}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        s(&refused["type"]).ends_with("mfa-enrollment-required"),
        "{refused}"
    );
    // Enrolled, the same sign-in carries on.
    turn_on(&t, &member_token).await?;
    let (st, _) = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": renewed["refresh_token"]}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "the refused refresh changed nothing");
    Ok(())
}

#[tokio::test]
async fn an_invitation_into_an_organisation_requiring_mfa_signs_in_only_after_enrolment()
-> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("boss"), "Strict Org").await?;
    require_mfa(&t, org, &admin).await;
    let (inv, token) = t.invite(org, &admin, &email("newbie"), "member").await?;
    let (st, joined) = t
        .post(&format!(
            "/api/v1/invitations/{}/accept",
            s(&inv["invitation_id"])
        ))
        .json(json!({"token": token, "full_name": "New Bie", "password": "Another-Pass-987"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{joined}");
    assert_eq!(
        joined["organization_id"],
        org.to_string(),
        "the membership is made"
    );
    let secret = enrolment_step(&joined);
    let (st, done) = t
        .post("/api/v1/auth/login/mfa")
        .json(json!({"mfa_token": joined["mfa_token"], "code": totp(&secret, 0)}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["organization_id"], org.to_string());
    Ok(())
}

#[tokio::test]
async fn a_claimed_assisted_account_whose_organisation_requires_mfa_enrols_first()
-> anyhow::Result<()> {
    let t = svc().await?;
    let sales = t.agent(
        &["sales_agent"],
        Some(json!({"assisted_signup": ["create", "read", "update"]})),
    );
    let created = t
        .post("/api/v1/auth/assisted-signup")
        .auth(&sales.auth)
        .json(assisted_body(&email("claimer")))
        .expect(201)
        .await;
    let admin = t.agent(&["platform_admin"], None);
    crate::assisted_approval::approve(&t, &admin, &created).await;
    // The agent preparing the account switched the requirement on.
    let mut tx = t.system_tx().await?;
    sqlx::query("UPDATE organizations SET settings = '{\"mfa_required\": true}' WHERE id = $1")
        .bind(uuid(&created["organization_id"]))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let claimed = t
        .post("/api/v1/auth/claim-account")
        .json(json!({"claim_token": created["claim_token"], "password": "Claimed-Pass-9876", "accept_terms": true}))
        .expect(200)
        .await;
    assert_eq!(
        claimed["account_status"], "claimed",
        "the claim itself is done"
    );
    let secret = enrolment_step(&claimed);
    let (st, done) = t
        .post("/api/v1/auth/login/mfa")
        .json(json!({"mfa_token": claimed["mfa_token"], "code": totp(&secret, 0)}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{done}");
    assert!(done["access_token"].is_string());
    Ok(())
}

#[tokio::test]
async fn failures_from_another_address_do_not_block_the_owners_code_step() -> anyhow::Result<()> {
    let t = svc().await?;
    let e = enrolled(&t).await?;
    first_step(&t, &e).await?; // the owner's address has known the password
    for _ in 0..5 {
        t.post("/api/v1/auth/login")
            .header("x-forwarded-for", "198.51.100.7")
            .json(json!({"email": e.user, "password": "WrongPass123!"}))
            .send()
            .await?;
    }
    let step = first_step(&t, &e).await?;
    let code = org_auth::totp_code(&e.secret, 0);
    assert_eq!(
        second_step(&t, &step, &code).await?,
        StatusCode::OK,
        "the lock is the other address's, not the owner's"
    );
    Ok(())
}
