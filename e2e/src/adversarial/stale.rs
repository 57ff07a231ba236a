//! Grants that outlive their reason: a demoted platform admin refreshing its token, an agent's
//! temporary access after the client claimed the account, a removed member's access token.
use std::time::{Duration, Instant};

use anyhow::ensure;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::{
    Ctx,
    accounts::{self, Session},
};
use crate::{PASSWORD, Platform, s};

/// Whether `token` carries `role` among its roles.
fn holds(token: &str, role: &str) -> anyhow::Result<bool> {
    let c = accounts::claims(token)?;
    Ok(c["all_roles"]
        .as_array()
        .is_some_and(|roles| roles.iter().any(|r| r == role)))
}

async fn set_roles(
    p: &Platform,
    token: &str,
    agent: Uuid,
    roles: &[&str],
) -> anyhow::Result<StatusCode> {
    let r = p
        .call(
            Method::PATCH,
            &format!("/api/v1/agents/{agent}"),
            Some(token),
            Some(json!({"roles": roles})),
            &[],
        )
        .await?;
    Ok(r.status)
}

/// Refreshes `session` until `done` holds for the answer's status and the session (a minute at
/// most 150 s: the change travels through Kafka); each refresh that succeeds rotates the session.
async fn refresh_until(
    p: &Platform,
    session: &mut Session,
    what: &str,
    done: impl Fn(StatusCode, &Session) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    // Generous: under a loaded machine the consumer of the roles event may first wait out a
    // consumer-group rebalance on the broker.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let r = accounts::refresh(p, &session.refresh).await?;
        if r.status == StatusCode::OK {
            *session = Session::of(&r);
        }
        if done(r.status, session)? {
            return Ok(());
        }
        ensure!(
            r.status == StatusCode::OK,
            "{what}: the refresh answered {} {}",
            r.status,
            r.body
        );
        ensure!(Instant::now() < deadline, "{what}: not within 150 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A sales agent is made platform admin, uses it, and is demoted. Its refresh token must stop
/// working, its access tokens be refused, and a new sign-in carry no admin role: it cannot
/// re-promote itself.
pub(crate) async fn demoted_admin(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = c.at(c.source()?)?;
    let agent = accounts::agent(c, &p, &["sales_agent"]).await?;
    let mut session = accounts::signed_in(&p, &agent.email, PASSWORD).await?;
    let promoted = set_roles(&p, &c.admin, agent.id, &["platform_admin", "sales_agent"]).await?;
    ensure!(promoted == StatusCode::OK, "promotion: {promoted}");
    refresh_until(
        &p,
        &mut session,
        "the promotion reaching the tokens",
        |st, now| Ok(st == StatusCode::OK && holds(&now.access, "platform_admin")?),
    )
    .await?;
    let tweak = json!({"max_capacity": 25});
    let r = p
        .call(
            Method::PATCH,
            &format!("/api/v1/agents/{}", agent.id),
            Some(&session.access),
            Some(tweak),
            &[],
        )
        .await?;
    r.expect(StatusCode::OK, "the promoted agent acts as platform admin")?;
    c.say(
        "a sales agent is made platform admin and acts as one",
        "200",
    );

    let demoted = set_roles(&p, &c.admin, agent.id, &["sales_agent"]).await?;
    ensure!(demoted == StatusCode::OK, "demotion: {demoted}");
    refresh_until(
        &p,
        &mut session,
        "the demotion revoking the refresh token",
        |st, _| Ok(st == StatusCode::UNAUTHORIZED),
    )
    .await?;
    c.say(
        "it is demoted; it refreshes its token",
        "401 (refresh tokens revoked)",
    );

    // The last access token it was given (before the demotion reached org-auth).
    let old = session.access.clone();
    let back = ["platform_admin", "sales_agent"];
    let status = accounts::eventually(
        "the demoted admin's last access token refused by human-agent",
        || set_roles(&p, &old, agent.id, &back),
        |st| !st.is_success(),
    )
    .await?;
    ensure!(
        accounts::me(&p, &old).await? == StatusCode::UNAUTHORIZED,
        "org-auth still takes the demoted admin's last access token"
    );
    c.say(
        "its last access token re-promotes it / reads /auth/me",
        format!("{}, 401", status.as_u16()),
    );

    let fresh = accounts::signed_in(&p, &agent.email, PASSWORD).await?;
    ensure!(
        !holds(&fresh.access, "platform_admin")?,
        "a new sign-in still carries platform_admin: {}",
        accounts::claims(&fresh.access)?
    );
    let status = set_roles(&p, &fresh.access, agent.id, &back).await?;
    ensure!(
        status == StatusCode::FORBIDDEN,
        "the demoted agent re-promotes itself: {status}"
    );
    c.say(
        "it signs in again and re-promotes itself",
        "no admin role in the token; 403",
    );
    Ok(())
}

/// A sales agent takes temporary admin access to a prospect's account; the prospect claims it.
/// The temporary token must stop working at once.
pub(crate) async fn temporary_token_after_claim(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = c.at(c.source()?)?;
    let sales = accounts::agent(c, &p, &["sales_agent"]).await?;
    let sales = accounts::signed_in(&p, &sales.email, PASSWORD)
        .await?
        .access;
    let (user, org, claim) = accounts::assisted_account(c, &p, &sales).await?;
    let body = json!({"reason": "setting up the product catalogue", "duration_hours": 4});
    let r = p
        .post(
            &format!("/api/v1/auth/assisted-accounts/{user}/access"),
            Some(&sales),
            body,
        )
        .await?;
    r.expect(StatusCode::OK, "temporary access")?;
    let granted = s(&r.body["temporary_access_token"]);
    // The edge verifies the JWT alone (see the README's deviations).
    let temp = granted
        .strip_prefix("temp_")
        .unwrap_or(&granted)
        .to_string();
    let organisation = format!("/api/v1/organizations/{org}");
    let r = p
        .call(Method::GET, &organisation, Some(&temp), None, &[])
        .await?;
    r.expect(StatusCode::OK, "the temporary token before the claim")?;
    c.say(
        "a sales agent's temporary admin token reads the organisation",
        "200",
    );

    accounts::claim(&p, &claim)
        .await?
        .expect(StatusCode::OK, "the prospect claims the account")?;
    let r = p
        .call(Method::GET, &organisation, Some(&temp), None, &[])
        .await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "the temporary token still works after the claim: {} {}",
        r.status,
        r.body
    );
    let r = p
        .post(
            &format!("/api/v1/auth/assisted-accounts/{user}/access"),
            Some(&sales),
            json!({"reason": "once more please", "duration_hours": 1}),
        )
        .await?;
    ensure!(
        !r.status.is_success(),
        "new temporary access after the claim: {} {}",
        r.status,
        r.body
    );
    c.say(
        "the prospect claims; the token again / a new grant",
        format!("401 / {}", r.status.as_u16()),
    );
    Ok(())
}

/// A member is removed from its organisation; its access token must be refused at once, and
/// its refresh token too.
pub(crate) async fn removed_member(c: &Ctx<'_>) -> anyhow::Result<()> {
    let p = c.at(c.source()?)?;
    let (admin, org) = accounts::organisation(&p).await?;
    let (invitation, secret, _) = accounts::invite(&p, &admin.session.access, org).await?;
    let r = accounts::accept(&p, &invitation, &secret).await?;
    r.expect(StatusCode::OK, "the colleague accepts")?;
    let member = Session::of(&r);
    let user = s(&accounts::claims(&member.access)?["user_id"]);
    ensure!(
        accounts::me(&p, &member.access).await? == StatusCode::OK,
        "the member's token before removal"
    );
    let r = p
        .call(
            Method::DELETE,
            &format!("/api/v1/organizations/{org}/members/{user}"),
            Some(&admin.session.access),
            None,
            &[],
        )
        .await?;
    ensure!(r.status.is_success(), "removal: {} {}", r.status, r.body);
    c.say("an admin removes a member", r.status.as_u16());
    let token = accounts::me(&p, &member.access).await?;
    let refreshed = accounts::refresh(&p, &member.refresh).await?.status;
    ensure!(
        token == StatusCode::UNAUTHORIZED && refreshed == StatusCode::UNAUTHORIZED,
        "the removed member's access token answers {token}, its refresh {refreshed}"
    );
    c.say(
        "the removed member's access token / refresh token",
        "401 / 401",
    );
    Ok(())
}
