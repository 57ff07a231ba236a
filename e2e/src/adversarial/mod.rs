//! The adversarial suite: the platform attacked as an attacker would, through the gateway (and,
//! where the attack is to bypass it, straight at a service). Each attack is a named step whose
//! assertion fails when the defence it probes is missing; every attack runs, and the suite
//! fails at the end naming each one that was not defended.
//!
//! Attackers and victims call from addresses of their own: the whole of 127.0.0.0/8 reaches the
//! loopback interface, so each party binds its own source address (picked at random per run,
//! which also gives every run fresh per-address budgets at the edge).
use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr},
    pin::Pin,
    sync::atomic::{AtomicU8, Ordering},
};

use anyhow::Context as _;
use reqwest::redirect::Policy;

use crate::Platform;

mod accounts;
mod edge;
mod flood;
pub mod provider;
mod reuse;
mod stale;
mod takeover;

/// What the suite reaches besides the gateway.
pub struct Reach {
    /// org-auth's own HTTP address (e.g. `http://127.0.0.1:8100`), to attack it past the edge
    /// and to watch its readiness.
    pub org_auth: String,
    /// The OAuth provider the fleet was started with (a local mock of Google), if any.
    pub oauth: Option<provider::Provider>,
}

/// What every attack is given.
pub(crate) struct Ctx<'a> {
    pub p: &'a Platform,
    pub reach: &'a Reach,
    /// A platform admin's access token.
    pub admin: String,
    /// 127.a.b.0: the network this run's source addresses come from.
    net: [u8; 3],
    next: AtomicU8,
}

impl Ctx<'_> {
    /// A source address no other party of this run uses.
    pub fn source(&self) -> anyhow::Result<IpAddr> {
        let host = self.next.fetch_add(1, Ordering::Relaxed);
        anyhow::ensure!(host < 255, "this run ran out of source addresses");
        let [a, b, c] = self.net;
        Ok(IpAddr::V4(Ipv4Addr::new(a, b, c, host)))
    }

    /// A client calling the gateway from `source`.
    pub fn at(&self, source: IpAddr) -> anyhow::Result<Platform> {
        self.client(&self.p.base, source)
    }

    /// A client calling org-auth itself, past the gateway, from `source`.
    pub fn direct(&self, source: IpAddr) -> anyhow::Result<Platform> {
        self.client(&self.reach.org_auth, source)
    }

    /// A client of `base` from `source`. Redirects are not followed: an OAuth start answers
    /// one, and its target is read, not visited.
    fn client(&self, base: &str, source: IpAddr) -> anyhow::Result<Platform> {
        let http = reqwest::Client::builder()
            .local_address(source)
            .redirect(Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Platform {
            base: base.to_string(),
            mailbox: self.p.mailbox.clone(),
            admin_email: self.p.admin_email.clone(),
            admin_password: self.p.admin_password.clone(),
            narrate: false,
            http,
        })
    }

    /// Narrates one step of an attack.
    pub fn say(&self, step: &str, outcome: impl std::fmt::Display) {
        self.p.say(&format!("  {step}"), outcome);
    }
}

pub(crate) type Attack<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// Every attack, in turn; fails naming each attack that was not defended.
pub async fn all(p: &Platform, reach: &Reach) -> anyhow::Result<()> {
    p.heading("5. The platform under attack");
    let seed = uuid::Uuid::new_v4().into_bytes();
    let net = [127, 1 + seed[0] % 254, seed[1]];
    let mut ctx = Ctx {
        p,
        reach,
        admin: String::new(),
        net,
        next: AtomicU8::new(1),
    };
    let admin = ctx.at(ctx.source()?)?;
    ctx.admin = admin
        .login(&p.admin_email, &p.admin_password)
        .await
        .context("the platform admin signs in")?;
    let c = &ctx;
    let attacks: Vec<(&str, Attack)> = vec![
        (
            "takeover by a second signup",
            Box::pin(takeover::by_second_signup(c)),
        ),
        (
            "takeover by OAuth linking",
            Box::pin(takeover::by_oauth_linking(c)),
        ),
        (
            "a demoted admin's refreshed token",
            Box::pin(stale::demoted_admin(c)),
        ),
        (
            "a temporary token after the claim",
            Box::pin(stale::temporary_token_after_claim(c)),
        ),
        (
            "a removed member's access token",
            Box::pin(stale::removed_member(c)),
        ),
        (
            "forged edge headers straight to a service",
            Box::pin(edge::forged_headers_to_the_service(c)),
        ),
        (
            "spoofed X-Forwarded-For through the gateway",
            Box::pin(edge::spoofed_forwarding_through_the_gateway(c)),
        ),
        (
            "spoofed X-Forwarded-For straight to a service",
            Box::pin(edge::spoofed_forwarding_to_the_service(c)),
        ),
        (
            "40 concurrent wrong logins",
            Box::pin(flood::concurrent_wrong_logins(c)),
        ),
        ("reuse of every single-use token", Box::pin(reuse::all(c))),
    ];
    let total = attacks.len();
    let mut undefended = Vec::new();
    for (name, attack) in attacks {
        p.say(name, "…");
        match attack.await {
            Ok(()) => p.say(name, "defended"),
            Err(e) => {
                p.say(name, format!("NOT DEFENDED: {e:#}"));
                undefended.push(format!("{name}: {e:#}"));
            }
        }
    }
    anyhow::ensure!(
        undefended.is_empty(),
        "{} of {total} attacks were not defended:\n- {}",
        undefended.len(),
        undefended.join("\n- ")
    );
    Ok(())
}
