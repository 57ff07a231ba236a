//! Every single-use secret presented a second time: the verification code, the set-password and
//! reset links (spending one spends the others), the invitation, the refresh token (reuse ends
//! the whole family), an MFA recovery code and the assisted account's claim token. (The OAuth
//! `state` is replayed in the OAuth takeover.)
use anyhow::{Context as _, ensure};
use reqwest::StatusCode;
use serde_json::json;

use super::{Attack, Ctx, accounts};
use crate::{PASSWORD, Reply, s};

/// Ok when the second use was refused with a client error.
fn refused(r: &Reply, what: &str) -> anyhow::Result<u16> {
    ensure!(
        r.status.is_client_error(),
        "{what} worked a second time: {} {}",
        r.status,
        r.body
    );
    Ok(r.status.as_u16())
}

async fn verification_code(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = &c.at(c.source()?)?;
    let client = accounts::client(p, "reuse").await?;
    let r = accounts::verify(p, &client.email, &client.code).await?;
    let st = refused(&r, "a verification code")?;
    c.say("a spent verification code again", st);
    Ok(())
}

async fn password_links(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = &c.at(c.source()?)?;
    let agent = accounts::agent(c, p, &["sales_agent"]).await?;
    let r = accounts::set_password(p, &agent.link, "Second-Use-2468").await?;
    let st = refused(&r, "a spent set-password link")?;
    c.say("a spent set-password link again", st);
    for _ in 0..2 {
        let r = p
            .post(
                "/api/v1/auth/password-reset",
                None,
                json!({"email": agent.email}),
            )
            .await?;
        r.expect(StatusCode::ACCEPTED, "reset request")?;
    }
    let links = accounts::mailed_all(
        p,
        &agent.email,
        "reset-password?token=",
        &['"', '<', '&'],
        3,
    )
    .await?;
    let r = accounts::set_password(p, &links[2], "Newest-Link-1357").await?;
    ensure!(
        r.status.is_success(),
        "a fresh reset link: {} {}",
        r.status,
        r.body
    );
    let r = accounts::set_password(p, &links[1], "Older-Link-9753").await?;
    let st = refused(&r, "a second reset link after another was spent")?;
    let r = accounts::login(p, &agent.email, "Older-Link-9753").await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "the older link's password signs in: {}",
        r.status
    );
    accounts::signed_in(p, &agent.email, "Newest-Link-1357").await?;
    c.say("two reset links; one spent, the other tried", st);
    Ok(())
}

async fn invitation(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = &c.at(c.source()?)?;
    let (admin, org) = accounts::organisation(p).await?;
    let (invitation, secret, _) = accounts::invite(p, &admin.session.access, org).await?;
    accounts::accept(p, &invitation, &secret)
        .await?
        .expect(StatusCode::OK, "accept")?;
    let r = accounts::accept(p, &invitation, &secret).await?;
    let st = refused(&r, "an accepted invitation")?;
    c.say("an accepted invitation accepted again", st);
    Ok(())
}

async fn refresh_token(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = &c.at(c.source()?)?;
    let client = accounts::client(p, "refresh").await?;
    let first = client.session.refresh;
    let r = accounts::refresh(p, &first).await?;
    r.expect(StatusCode::OK, "refresh")?;
    let rotated = accounts::Session::of(&r);
    let r = accounts::refresh(p, &first).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "a rotated refresh token worked again: {} {}",
        r.status,
        r.body
    );
    let again = accounts::refresh(p, &rotated.refresh).await?.status;
    let access = accounts::me(p, &rotated.access).await?;
    ensure!(
        again == StatusCode::UNAUTHORIZED && access == StatusCode::UNAUTHORIZED,
        "after the reuse, the family's newest refresh token answers {again}, its access token \
         {access} (the family must be revoked)"
    );
    c.say(
        "a rotated refresh token again; then the family's newest",
        "401; 401 (and its access token 401)",
    );
    Ok(())
}

async fn recovery_code(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = &c.at(c.source()?)?;
    let client = accounts::client(p, "mfa").await?;
    let token = client.session.access;
    let r = p
        .post("/api/v1/auth/mfa/totp/enroll", Some(&token), json!({}))
        .await?;
    r.expect(StatusCode::OK, "MFA enrolment")?;
    let secret = org_auth::base32_decode(&s(&r.body["secret"])).context("a base32 secret")?;
    // The previous step's code, as an authenticator app a few seconds behind would show.
    let code = org_auth::totp_code(&secret, -1);
    let r = p
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({"code": code}),
        )
        .await?;
    r.expect(StatusCode::OK, "MFA confirmation")?;
    let recovery = s(&r.body["recovery_codes"][0]);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let step = accounts::login(p, &client.email, PASSWORD).await?;
        step.expect(StatusCode::OK, "the password step")?;
        let body = json!({"mfa_token": step.body["mfa_token"], "code": recovery});
        answers.push(p.post("/api/v1/auth/login/mfa", None, body).await?);
    }
    answers[0].expect(StatusCode::OK, "a recovery code")?;
    let st = refused(&answers[1], "a spent MFA recovery code")?;
    c.say("a spent MFA recovery code again", st);
    Ok(())
}

async fn claim_token(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = &c.at(c.source()?)?;
    let sales = accounts::agent(c, p, &["sales_agent"]).await?;
    let sales = accounts::signed_in(p, &sales.email, PASSWORD).await?.access;
    let (_, _, claim) = accounts::assisted_account(c, p, &sales).await?;
    accounts::claim(p, &claim)
        .await?
        .expect(StatusCode::OK, "claim")?;
    let r = accounts::claim(p, &claim).await?;
    let st = refused(&r, "a spent claim token")?;
    c.say("a spent claim token again", st);
    Ok(())
}

/// Each secret in turn (each from an address of its own); fails naming every one that worked
/// twice.
pub(crate) async fn all(c: &Ctx<'_>) -> anyhow::Result<()> {
    let checks: Vec<Attack> = vec![
        Box::pin(verification_code(c)),
        Box::pin(password_links(c)),
        Box::pin(invitation(c)),
        Box::pin(refresh_token(c)),
        Box::pin(recovery_code(c)),
        Box::pin(claim_token(c)),
    ];
    let mut failed = Vec::new();
    for check in checks {
        if let Err(e) = check.await {
            failed.push(format!("{e:#}"));
        }
    }
    ensure!(failed.is_empty(), "{}", failed.join("; "));
    Ok(())
}
