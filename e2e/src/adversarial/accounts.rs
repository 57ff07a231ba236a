//! The parties of the attacks: clients signed up and verified through the gateway, agents
//! registered by the platform admin, their sessions, token claims and mailed secrets.
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Ctx;
use crate::{PASSWORD, Platform, Reply, s, short};

/// The password attackers try (never the victim's).
pub(crate) const WRONG: &str = "Attacker-Pass-1357";

/// A signed-in session: its access and refresh tokens.
pub(crate) struct Session {
    pub access: String,
    pub refresh: String,
}

impl Session {
    pub fn of(r: &Reply) -> Self {
        Session {
            access: s(&r.body["access_token"]),
            refresh: s(&r.body["refresh_token"]),
        }
    }
}

/// A client's work address, new to the platform.
pub(crate) fn work_email(who: &str) -> String {
    format!("{who}.{}@tailspin-toys.com", short())
}

/// A verified client: its address, session and the code that verified it.
pub(crate) struct Client {
    pub email: String,
    pub session: Session,
    pub code: String,
}

/// Signs up `email` with `password` from `p`'s address: the answer (201 whoever holds it).
pub(crate) async fn signup(p: &Platform, email: &str, password: &str) -> anyhow::Result<Reply> {
    let body = json!({"email": email, "password": password, "full_name": "Terry Tailspin",
        "company_name": "Tailspin Toys", "role_in_company": "CEO"});
    let r = p.post("/api/v1/auth/signup", None, body).await?;
    r.expect(StatusCode::CREATED, "signup")?;
    Ok(r)
}

/// Signs up a new client from `p`'s address and verifies it with the mailed code.
pub(crate) async fn client(p: &Platform, who: &str) -> anyhow::Result<Client> {
    let email = work_email(who);
    signup(p, &email, PASSWORD).await?;
    let code = p.mailed(&email, "verification code is ", &['.']).await?;
    let r = verify(p, &email, &code).await?;
    r.expect(StatusCode::OK, "verify")?;
    Ok(Client {
        email,
        session: Session::of(&r),
        code,
    })
}

pub(crate) async fn verify(p: &Platform, email: &str, code: &str) -> anyhow::Result<Reply> {
    let body = json!({"email": email, "verification_code": code});
    p.post("/api/v1/auth/verify-email", None, body).await
}

/// A sign-in attempt: the answer as it comes.
pub(crate) async fn login(p: &Platform, email: &str, password: &str) -> anyhow::Result<Reply> {
    let body = json!({"email": email, "password": password});
    p.post("/api/v1/auth/login", None, body).await
}

/// A sign-in that must succeed: its session.
pub(crate) async fn signed_in(
    p: &Platform,
    email: &str,
    password: &str,
) -> anyhow::Result<Session> {
    let r = login(p, email, password).await?;
    r.expect(StatusCode::OK, &format!("login {email}"))?;
    Ok(Session::of(&r))
}

pub(crate) async fn refresh(p: &Platform, token: &str) -> anyhow::Result<Reply> {
    p.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": token}),
    )
    .await
}

/// A token-only read (no database): whether the services still take `token`.
pub(crate) async fn me(p: &Platform, token: &str) -> anyhow::Result<StatusCode> {
    let r = p
        .call(
            Method::GET,
            "/api/v1/auth/me?organizations=false",
            Some(token),
            None,
            &[],
        )
        .await?;
    Ok(r.status)
}

/// The claims of a JWT, read without verifying it (what the client can see of it).
pub(crate) fn claims(token: &str) -> anyhow::Result<Value> {
    let payload = token.split('.').nth(1).context("a JWT has three parts")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
}

/// Every value mailed to `to` after `marker` (up to a character of `end` or a space), oldest
/// first, once there are at least `n`.
pub(crate) async fn mailed_all(
    p: &Platform,
    to: &str,
    marker: &str,
    end: &[char],
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<String> = notify::read_mailbox(&p.mailbox, to)
            .iter()
            .filter_map(|m| {
                let at = m.text.find(marker)? + marker.len();
                let rest = &m.text[at..];
                let stop = rest
                    .find(|c: char| end.contains(&c) || c.is_whitespace())
                    .unwrap_or(rest.len());
                Some(rest[..stop].to_string())
            })
            .collect();
        if found.len() >= n {
            return Ok(found);
        }
        ensure!(
            Instant::now() < deadline,
            "{} of {n} mails to {to} with {marker:?}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The token of a password link (set or reset) mailed to `to`: the `n`-th (from 1), oldest
/// first.
pub(crate) async fn password_link(p: &Platform, to: &str, n: usize) -> anyhow::Result<String> {
    let links = mailed_all(p, to, "reset-password?token=", &['"', '<', '&'], n).await?;
    Ok(links[n - 1].clone())
}

/// Sets a new password with a mailed link: the answer.
pub(crate) async fn set_password(
    p: &Platform,
    token: &str,
    password: &str,
) -> anyhow::Result<Reply> {
    let body = json!({"token": token, "new_password": password});
    p.post("/api/v1/auth/password-reset/confirm", None, body)
        .await
}

/// An agent registered by the platform admin with `roles`, its password set from the mailed
/// link: its id, address and the link's token (spent).
pub(crate) struct Agent {
    pub id: Uuid,
    pub email: String,
    pub link: String,
}

pub(crate) async fn agent(c: &Ctx<'_>, p: &Platform, roles: &[&str]) -> anyhow::Result<Agent> {
    let email = format!("{}.{}@workflow.test", roles[0].replace('_', "."), short());
    let body =
        json!({"email": email, "full_name": "Alex Agent", "roles": roles, "max_capacity": 20});
    let r = p.post("/api/v1/agents", Some(&c.admin), body).await?;
    r.expect(StatusCode::CREATED, "register agent")?;
    let id: Uuid = s(&r.body["agent_id"]).parse()?;
    let link = password_link(p, &email, 1).await?;
    let r = set_password(p, &link, PASSWORD).await?;
    ensure!(
        r.status.is_success(),
        "set password: {} {}",
        r.status,
        r.body
    );
    Ok(Agent { id, email, link })
}

/// An organisation created by a new verified client: the client (now its admin, with the
/// admin's session) and the organisation's id.
pub(crate) async fn organisation(p: &Platform) -> anyhow::Result<(Client, Uuid)> {
    let mut admin = client(p, "founder").await?;
    let body = json!({"organization_name": "Tailspin Toys", "industry": "e-commerce"});
    let r = p
        .post("/api/v1/organizations", Some(&admin.session.access), body)
        .await?;
    r.expect(StatusCode::CREATED, "organisation")?;
    admin.session = Session::of(&r);
    Ok((admin, s(&r.body["organization_id"]).parse()?))
}

/// An invitation to `org` for a new address: its id, secret and the address.
pub(crate) async fn invite(
    p: &Platform,
    admin: &str,
    org: Uuid,
) -> anyhow::Result<(String, String, String)> {
    let email = work_email("colleague");
    let r = p
        .post(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(admin),
            json!({"email": email, "role": "member"}),
        )
        .await?;
    r.expect(StatusCode::CREATED, "invite")?;
    let link = s(&r.body["invitation_link"]);
    let secret = link.split("token=").nth(1).unwrap_or_default().to_string();
    Ok((s(&r.body["invitation_id"]), secret, email))
}

pub(crate) async fn accept(p: &Platform, invitation: &str, secret: &str) -> anyhow::Result<Reply> {
    let body = json!({"token": secret, "full_name": "Cole Colleague", "password": PASSWORD});
    p.post(
        &format!("/api/v1/invitations/{invitation}/accept"),
        None,
        body,
    )
    .await
}

/// An assisted account a sales agent opened for a new prospect, approved by the platform admin
/// (a sales agent's account waits for that before it can be claimed or accessed): (user,
/// organisation, claim token).
pub(crate) async fn assisted_account(
    c: &Ctx<'_>,
    p: &Platform,
    sales: &str,
) -> anyhow::Result<(Uuid, Uuid, String)> {
    let body = json!({"client_email": work_email("prospect"), "client_name": "Pat Prospect",
        "company_name": "Tailspin Toys", "industry": "manufacturing"});
    let r = p
        .post("/api/v1/auth/assisted-signup", Some(sales), body)
        .await?;
    r.expect(StatusCode::CREATED, "assisted signup")?;
    let user: Uuid = s(&r.body["user_id"]).parse()?;
    let approved = p
        .post(
            &format!("/api/v1/auth/assisted-accounts/{user}/approve"),
            Some(&c.admin),
            json!({"notes": "a prospect of the attacks"}),
        )
        .await?;
    approved.expect(StatusCode::OK, "the platform admin approves the account")?;
    Ok((
        user,
        s(&r.body["organization_id"]).parse()?,
        s(&r.body["claim_token"]),
    ))
}

pub(crate) async fn claim(p: &Platform, token: &str) -> anyhow::Result<Reply> {
    let body = json!({"claim_token": token, "password": PASSWORD, "accept_terms": true});
    p.post("/api/v1/auth/claim-account", None, body).await
}

/// Waits (up to a minute, events travel through Kafka) until `check` holds; the last value.
pub(crate) async fn eventually<T, F, Fut>(
    what: &str,
    mut probe: F,
    check: impl Fn(&T) -> bool,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = probe().await?;
        if check(&v) {
            return Ok(v);
        }
        ensure!(Instant::now() < deadline, "{what}: not within a minute");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
