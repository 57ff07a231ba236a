//! Account takeover before the owner verifies: by signing up the owner's address a second time,
//! and by waiting in an unverified account for the owner to sign in with OAuth.
use anyhow::{Context as _, ensure};
use reqwest::{Method, StatusCode};

use super::{
    Ctx,
    accounts::{self, WRONG},
    provider::REDIRECT,
};
use crate::{PASSWORD, Platform, s};

/// The owner signs up; an attacker signs the same address up again with its own password; the
/// owner verifies with the code from its mail. The attacker's password must not sign in.
pub(crate) async fn by_second_signup(c: &Ctx<'_>) -> anyhow::Result<()> {
    let (owner, attacker) = (c.at(c.source()?)?, c.at(c.source()?)?);
    let email = accounts::work_email("owner");
    accounts::signup(&owner, &email, PASSWORD).await?;
    accounts::signup(&attacker, &email, WRONG).await?;
    c.say(
        "the owner signs up; an attacker signs the address up again",
        "201, 201",
    );
    // The owner's mail is the first to the address; the attacker never sees either.
    let codes = accounts::mailed_all(&owner, &email, "verification code is ", &['.'], 2).await?;
    let r = accounts::verify(&owner, &email, &codes[0]).await?;
    r.expect(StatusCode::OK, "the owner verifies with its code")?;
    let token = s(&r.body["access_token"]);
    ensure!(
        accounts::me(&owner, &token).await? == StatusCode::OK,
        "the owner's verified session is refused"
    );
    c.say(
        "the owner verifies with the code from its mailbox",
        "200, signed in",
    );
    let r = accounts::login(&attacker, &email, WRONG).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "the attacker's password signs in after the owner verified: {} {}",
        r.status,
        r.body
    );
    c.say("the attacker signs in with its password", "401");
    // Neither submitted password was kept (one is not the owner's): the owner chooses one with
    // the link mailed on verification.
    let link = accounts::password_link(&owner, &email, 1).await?;
    let r = accounts::set_password(&owner, &link, "Owner-Chosen-9753").await?;
    ensure!(
        r.status.is_success(),
        "the owner sets its password: {} {}",
        r.status,
        r.body
    );
    accounts::signed_in(&owner, &email, "Owner-Chosen-9753").await?;
    let r = accounts::login(&attacker, &email, WRONG).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "the attacker's password signs in: {}",
        r.status
    );
    c.say(
        "the owner sets its password by the mailed link and signs in",
        "200; the attacker's still 401",
    );
    Ok(())
}

/// The browser starts a Google sign-in: the `state` and the binding cookie it was given.
async fn start_sign_in(browser: &Platform) -> anyhow::Result<(String, String)> {
    let start = browser
        .call(
            Method::GET,
            &format!("/api/v1/auth/oauth/google/authorize?redirect_uri={REDIRECT}"),
            None,
            None,
            &[],
        )
        .await?;
    start.expect(StatusCode::FOUND, "OAuth start")?;
    let cookie = start
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the OAuth start sets a binding cookie")?;
    Ok((s(&start.body["state"]), cookie.to_string()))
}

/// An attacker signs up the owner's address (never verified); the owner later signs in with
/// Google, which has verified the address. The account must be the owner's alone afterwards:
/// the attacker's password refused, and the sign-in bound to the browser that started it.
pub(crate) async fn by_oauth_linking(c: &Ctx<'_>) -> anyhow::Result<()> {
    let Some(google) = &c.reach.oauth else {
        c.say("no test provider configured on this platform", "not run");
        return Ok(());
    };
    let (owner, attacker) = (c.at(c.source()?)?, c.at(c.source()?)?);
    let email = accounts::work_email("oauth.owner");
    let r = accounts::signup(&attacker, &email, WRONG).await?;
    let waiting = s(&r.body["user_id"]);
    c.say(
        "an attacker signs up the owner's address and waits",
        "201, unverified",
    );

    let (state, cookie) = start_sign_in(&owner).await?;
    let code = google.consent(&email, "Olivia Owner").await;
    let callback = format!("/api/v1/auth/oauth/google/callback?code={code}&state={state}");

    // A leaked callback URL replayed from another browser (no binding cookie) gets nothing.
    let r = attacker
        .call(Method::GET, &callback, None, None, &[])
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST,
        "a callback without the starting browser's cookie: {} {}",
        r.status,
        r.body
    );
    c.say(
        "the attacker replays the callback URL from its browser",
        "400",
    );

    let with_cookie = [("cookie", cookie.as_str())];
    let r = owner
        .call(Method::GET, &callback, None, None, &with_cookie)
        .await?;
    r.expect(StatusCode::OK, "the owner's OAuth callback")?;
    ensure!(
        s(&r.body["user_id"]) == waiting,
        "the sign-in did not reach the waiting account (linking not exercised): {}",
        r.body
    );
    ensure!(
        accounts::me(&owner, &s(&r.body["access_token"])).await? == StatusCode::OK,
        "the owner's OAuth session is refused"
    );
    c.say(
        "the owner signs in with Google (address verified there)",
        "200, the same account",
    );

    let r = accounts::login(&attacker, &email, WRONG).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "the attacker's password signs in to the linked account: {} {}",
        r.status,
        r.body
    );
    c.say(
        "the attacker signs in with its password",
        "401 (cleared on linking)",
    );

    let r = owner
        .call(Method::GET, &callback, None, None, &with_cookie)
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST,
        "the spent OAuth state signs in again: {} {}",
        r.status,
        r.body
    );
    c.say("the same callback (state spent) again", "400");
    Ok(())
}
