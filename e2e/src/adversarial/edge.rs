//! The trust boundary of the edge: headers only the edge may set (`X-Agent-*`), and the client
//! address it forwards (`X-Forwarded-For`), forged by a client — through the gateway, and
//! straight at org-auth's own port as a caller inside the cluster would.
use std::net::IpAddr;

use anyhow::ensure;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{
    Ctx,
    accounts::{self, WRONG},
};
use crate::{PASSWORD, Platform};

/// An agent without `assisted_signup.create` sends the headers the edge injects, granting it,
/// to org-auth directly. org-auth must refuse them.
pub(crate) async fn forged_headers_to_the_service(c: &Ctx<'_>) -> anyhow::Result<()> {
    let src = c.source()?;
    let (gateway, service) = (c.at(src)?, c.direct(src)?);
    let agent = accounts::agent(c, &gateway, &["support_specialist"]).await?;
    let token = accounts::signed_in(&gateway, &agent.email, PASSWORD)
        .await?
        .access;
    let id = agent.id.to_string();
    let forged = [
        ("X-Agent-ID", id.as_str()),
        (
            "X-Agent-Permissions",
            r#"{"assisted_signup":["create","read","update"]}"#,
        ),
    ];
    let body = json!({"client_email": accounts::work_email("forged"), "client_name": "Fay Forged",
        "company_name": "Tailspin Toys", "industry": "manufacturing"});
    let path = "/api/v1/auth/assisted-signup";
    let r = gateway
        .call(
            Method::POST,
            path,
            Some(&token),
            Some(body.clone()),
            &forged,
        )
        .await?;
    r.expect(StatusCode::FORBIDDEN, "forged headers through the gateway")?;
    c.say(
        "a support specialist forges X-Agent-* through the gateway",
        "403",
    );
    let r = service
        .call(Method::POST, path, Some(&token), Some(body), &forged)
        .await?;
    ensure!(
        matches!(r.status.as_u16(), 401 | 403),
        "org-auth took forged X-Agent-ID/X-Agent-Permissions sent past the edge and answered {} \
         (the edge's headers are not verifiable by the service)",
        r.status
    );
    c.say(
        "the same, straight to org-auth's port",
        format!("{} (unsigned edge headers refused)", r.status.as_u16()),
    );
    Ok(())
}

/// Five wrong passwords for `email` from `attacker`, each naming `spoof` as the client in
/// `X-Forwarded-For`.
async fn five_failures(attacker: &Platform, email: &str, spoof: IpAddr) -> anyhow::Result<()> {
    let spoof = spoof.to_string();
    for _ in 0..5 {
        let r = attacker
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": WRONG})),
                &[("x-forwarded-for", spoof.as_str())],
            )
            .await?;
        r.expect(StatusCode::UNAUTHORIZED, "a wrong password")?;
    }
    Ok(())
}

/// Lockout against an attacker naming its victim's address: the victim keeps signing in, and the
/// failures lock the attacker's own address (probed with the right password on a second
/// account, since a victim's sign-in lifts every lock of its account).
async fn lockout(c: &Ctx<'_>, attacker: &Platform, path: &str) -> anyhow::Result<()> {
    let victim_src = c.source()?;
    let victim = c.at(victim_src)?;
    let first = accounts::client(&victim, "victim").await?;
    five_failures(attacker, &first.email, victim_src).await?;
    let r = accounts::login(&victim, &first.email, PASSWORD).await?;
    ensure!(
        r.status == StatusCode::OK,
        "five failures {path} naming the victim's address in X-Forwarded-For locked the victim \
         out: {} {}",
        r.status,
        r.body
    );
    c.say(
        &format!("5 wrong logins {path}, X-Forwarded-For: the victim's address"),
        "the victim still signs in (200)",
    );
    let second = accounts::client(&victim, "victim").await?;
    five_failures(attacker, &second.email, victim_src).await?;
    let r = accounts::login(attacker, &second.email, PASSWORD).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "after five failures {path}, the attacker's own address is not locked out ({}): they \
         were counted against the address it named",
        r.status
    );
    c.say(
        "the same again; the attacker's address tries the right password",
        "401 (its real address is locked out)",
    );
    Ok(())
}

/// Signups from one address, each naming another client in `X-Forwarded-For`: the per-address
/// budget (10 an hour) must still refuse the 11th.
async fn limit(c: &Ctx<'_>, caller: &Platform, path: &str) -> anyhow::Result<()> {
    for i in 1..=11 {
        let spoof = format!("198.51.100.{i}");
        let r = caller
            .call(
                Method::POST,
                "/api/v1/auth/signup",
                None,
                Some(json!({})),
                &[("x-forwarded-for", spoof.as_str())],
            )
            .await?;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            ensure!(
                r.headers.contains_key("retry-after"),
                "429 without Retry-After"
            );
            c.say(
                &format!("signups {path}, each with another X-Forwarded-For"),
                format!("429 at request {i}"),
            );
            return Ok(());
        }
        ensure!(
            r.status.is_client_error(),
            "an empty signup answered {}",
            r.status
        );
    }
    anyhow::bail!(
        "11 signups {path} from one address, each naming another in X-Forwarded-For, were never \
         limited (10 an hour per address)"
    )
}

pub(crate) async fn spoofed_forwarding_through_the_gateway(c: &Ctx<'_>) -> anyhow::Result<()> {
    let path = "through the gateway";
    lockout(c, &c.at(c.source()?)?, path).await?;
    limit(c, &c.at(c.source()?)?, path).await
}

pub(crate) async fn spoofed_forwarding_to_the_service(c: &Ctx<'_>) -> anyhow::Result<()> {
    let path = "straight to org-auth";
    let locked = lockout(c, &c.direct(c.source()?)?, path).await;
    let limited = limit(c, &c.direct(c.source()?)?, path).await;
    match (locked, limited) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(a), Err(b)) => Err(anyhow::anyhow!("{a:#}; and {b:#}")),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}
