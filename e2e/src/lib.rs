//! The platform's journeys, driven only through the public API behind the gateway, as a client
//! would. The end-to-end tests run them against a fleet they start; `make demo` runs them
//! against the one `make run` started, narrating each step.
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub mod adversarial;
pub mod config;

pub struct Platform {
    /// The gateway, e.g. `http://127.0.0.1:8000`.
    pub base: String,
    /// Where the fleet's development mailbox writes.
    pub mailbox: PathBuf,
    /// A platform admin's login (made with `fleet admin create-platform-admin`).
    pub admin_email: String,
    pub admin_password: String,
    /// Print each step.
    pub narrate: bool,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Ok when the status is `want`; otherwise an error naming the step, the status and body.
    pub fn expect(&self, want: StatusCode, what: &str) -> anyhow::Result<()> {
        ensure!(self.status == want, "{what}: {} {}", self.status, self.body);
        Ok(())
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn short() -> String {
    Uuid::new_v4().simple().to_string()[..8].to_string()
}

const PASSWORD: &str = "Journey-Pass-2468";

impl Platform {
    pub fn say(&self, step: &str, outcome: impl std::fmt::Display) {
        if self.narrate {
            println!("  • {step:<62} {outcome}");
        }
    }

    pub fn heading(&self, title: &str) {
        if self.narrate {
            println!("\n{title}");
        }
    }

    pub async fn call(
        &self,
        m: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("{path}: is the platform running (make run)?"))?;
        let (status, headers) = (res.status(), res.headers().clone());
        let text = res.text().await?;
        Ok(Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        })
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> anyhow::Result<Reply> {
        self.call(Method::POST, path, token, Some(body), &[]).await
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    /// Waits for a mail to `to` whose text holds `marker`; returns what follows the marker up
    /// to the first character in `end`.
    async fn mailed(&self, to: &str, marker: &str, end: &[char]) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mails = notify::read_mailbox(&self.mailbox, to);
            if let Some(text) = mails
                .iter()
                .rev()
                .map(|m| &m.text)
                .find(|t| t.contains(marker))
            {
                let at = text.find(marker).unwrap_or(0) + marker.len();
                let rest = &text[at..];
                let stop = rest
                    .find(|c: char| end.contains(&c) || c.is_whitespace())
                    .unwrap_or(rest.len());
                return Ok(rest[..stop].to_string());
            }
            ensure!(
                Instant::now() < deadline,
                "no mail to {to} with {marker:?} in {}",
                self.mailbox.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let r = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await?;
        ensure!(
            r.status == StatusCode::OK,
            "login {email}: {} {}",
            r.status,
            r.body
        );
        Ok(s(&r.body["access_token"]))
    }

    /// Registers an agent (as the admin), sets its password from the mailed link, logs it in:
    /// (agent id, token).
    pub async fn agent(
        &self,
        admin: &str,
        roles: &[&str],
        name: &str,
    ) -> anyhow::Result<(Uuid, String)> {
        let email = format!("{}.{}@workflow.test", roles[0].replace('_', "."), short());
        let r = self
            .post(
                "/api/v1/agents",
                Some(admin),
                json!({"email": email, "full_name": name, "roles": roles, "max_capacity": 20}),
            )
            .await?;
        r.expect(StatusCode::CREATED, "register agent")?;
        let id: Uuid = s(&r.body["agent_id"]).parse()?;
        let token = self
            .mailed(&email, "reset-password?token=", &['"', '<', '&'])
            .await?;
        let r = self
            .post(
                "/api/v1/auth/password-reset/confirm",
                None,
                json!({"token": token, "new_password": PASSWORD}),
            )
            .await?;
        ensure!(
            r.status.is_success(),
            "set password: {} {}",
            r.status,
            r.body
        );
        Ok((id, self.login(&email, PASSWORD).await?))
    }

    async fn online(&self, id: Uuid, token: &str) -> anyhow::Result<()> {
        let r = self
            .call(
                Method::PATCH,
                &format!("/api/v1/agents/{id}/availability"),
                Some(token),
                Some(json!({"status": "online"})),
                &[],
            )
            .await?;
        r.expect(StatusCode::OK, "availability")?;
        Ok(())
    }
}

/// Signup → emailed code → verify → organisation → invitation → acceptance; the member sees
/// the members, another organisation's user does not.
pub async fn organisations(p: &Platform) -> anyhow::Result<()> {
    p.heading("1. A company signs up and invites a colleague");
    let email = format!("founder.{}@northwind-traders.com", short());
    let r = p
        .post("/api/v1/auth/signup", None, json!({"email": email, "password": PASSWORD, "full_name": "Nora North", "company_name": "Northwind Traders", "role_in_company": "COO"}))
        .await?;
    r.expect(StatusCode::CREATED, "signup")?;
    p.say(&format!("sign up {email}"), "201 Created");
    let code = p.mailed(&email, "verification code is ", &['.']).await?;
    p.say("read the verification code from the mailbox", &code);
    let r = p
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"email": email, "verification_code": code}),
        )
        .await?;
    r.expect(StatusCode::OK, "verify")?;
    p.say("verify the email", "200 OK, signed in");
    let token = s(&r.body["access_token"]);
    let r = p
        .post(
            "/api/v1/organizations",
            Some(&token),
            json!({"organization_name": "Northwind Traders", "industry": "e-commerce"}),
        )
        .await?;
    r.expect(StatusCode::CREATED, "organisation")?;
    let org = s(&r.body["organization_id"]);
    let admin = s(&r.body["access_token"]);
    p.say("create the organisation", format!("201 Created ({org})"));
    let colleague = format!("ops.{}@northwind-traders.com", short());
    let r = p
        .post(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(&admin),
            json!({"email": colleague, "role": "member"}),
        )
        .await?;
    r.expect(StatusCode::CREATED, "invite")?;
    let link = s(&r.body["invitation_link"]);
    let invitation = s(&r.body["invitation_id"]);
    p.say(&format!("invite {colleague}"), "201 Created");
    let secret = link.split("token=").nth(1).unwrap_or_default();
    let r = p
        .post(
            &format!("/api/v1/invitations/{invitation}/accept"),
            None,
            json!({"token": secret, "full_name": "Olaf Ops", "password": PASSWORD}),
        )
        .await?;
    r.expect(StatusCode::OK, "accept")?;
    let member = s(&r.body["access_token"]);
    p.say("the colleague accepts the invitation", "200 OK, signed in");
    let r = p
        .get(&format!("/api/v1/organizations/{org}/members"), &member)
        .await?;
    r.expect(StatusCode::OK, "members")?;
    let listed = r.body.to_string();
    ensure!(
        listed.contains(&email) && listed.contains(&colleague),
        "members lists both: {listed}"
    );
    p.say("the colleague lists the members", "200 OK, both listed");

    let outsider = format!("owner.{}@contoso-widgets.com", short());
    let r = p
        .post("/api/v1/auth/signup", None, json!({"email": outsider, "password": PASSWORD, "full_name": "Otto Outsider", "company_name": "Contoso", "role_in_company": "CEO"}))
        .await?;
    r.expect(StatusCode::CREATED, "second signup")?;
    let code = p.mailed(&outsider, "verification code is ", &['.']).await?;
    let r = p
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"email": outsider, "verification_code": code}),
        )
        .await?;
    let other = s(&r.body["access_token"]);
    let r = p
        .post(
            "/api/v1/organizations",
            Some(&other),
            json!({"organization_name": "Contoso Widgets", "industry": "manufacturing"}),
        )
        .await?;
    let other = s(&r.body["access_token"]);
    let r = p
        .get(&format!("/api/v1/organizations/{org}/members"), &other)
        .await?;
    ensure!(
        matches!(r.status.as_u16(), 403 | 404),
        "another tenant: {} {}",
        r.status,
        r.body
    );
    p.say(
        "another company's admin asks for those members",
        format!("{} refused", r.status.as_u16()),
    );
    Ok(())
}

/// What a journey hands to the next: the client, its organisation and its sales agent.
pub struct Assisted {
    pub client: Uuid,
    pub organization: Uuid,
    pub sales: (Uuid, String),
    pub admin: String,
    /// The prospect's own token, once it claimed the account.
    pub client_token: String,
}

/// A platform admin registers agents; assisted signup is refused without the permission and
/// made with it; the client lands in the sales agent's workload; the client claims the account.
pub async fn assisted(p: &Platform) -> anyhow::Result<Assisted> {
    p.heading("2. A sales agent opens an account for a prospect");
    let admin = p.login(&p.admin_email, &p.admin_password).await?;
    p.say("the platform admin signs in", "200 OK");
    let sales = p.agent(&admin, &["sales_agent"], "Sally Sales").await?;
    p.say(
        "register a sales agent; it sets its password and signs in",
        "201 Created, 200 OK",
    );
    let support = p
        .agent(&admin, &["support_specialist"], "Sid Support")
        .await?;
    p.say("register a support specialist", "201 Created");
    p.online(sales.0, &sales.1).await?;
    let client_email = format!("buyer.{}@fabrikam-industrial.com", short());
    let body = json!({"client_email": client_email, "client_name": "Bea Buyer", "company_name": "Fabrikam Industrial", "industry": "manufacturing"});
    let r = p
        .post(
            "/api/v1/auth/assisted-signup",
            Some(&support.1),
            body.clone(),
        )
        .await?;
    r.expect(StatusCode::FORBIDDEN, "support specialist")?;
    p.say(
        "the support specialist tries an assisted signup",
        "403 at the gateway (no assisted_signup.create)",
    );
    let r = p
        .post("/api/v1/auth/assisted-signup", Some(&sales.1), body)
        .await?;
    r.expect(StatusCode::CREATED, "assisted signup")?;
    let client: Uuid = s(&r.body["user_id"]).parse()?;
    let organization: Uuid = s(&r.body["organization_id"]).parse()?;
    let claim = s(&r.body["claim_token"]);
    p.say(
        "the sales agent creates the prospect's account",
        "201 Created, waiting for approval",
    );
    let r = p
        .post(
            &format!("/api/v1/auth/assisted-accounts/{client}/approve"),
            Some(&admin),
            json!({"notes": "Qualified at the trade fair"}),
        )
        .await?;
    r.expect(StatusCode::OK, "approval")?;
    p.say(
        "the platform admin approves the account",
        "200 OK, claim link mailed",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = p
            .get(&format!("/api/v1/agents/{}/workload", sales.0), &sales.1)
            .await?;
        r.expect(StatusCode::OK, "workload")?;
        if r.body["assignments"]
            .to_string()
            .contains(&client.to_string())
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the client never reached the agent's workload: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.say(
        "assisted_account_created assigns the client to that agent",
        "in the agent's workload",
    );
    let r = p
        .post(
            "/api/v1/auth/claim-account",
            None,
            json!({"claim_token": claim, "password": PASSWORD, "accept_terms": true}),
        )
        .await?;
    r.expect(StatusCode::OK, "claim")?;
    p.say("the prospect claims the account", "200 OK");
    let token = p.login(&client_email, PASSWORD).await?;
    let r = p.get("/api/v1/auth/me", &token).await?;
    r.expect(StatusCode::OK, "me")?;
    ensure!(
        r.body.to_string().contains("\"admin\""),
        "the client administers its organisation: {}",
        r.body
    );
    p.say(
        "the prospect signs in as admin of its organisation",
        "200 OK",
    );
    Ok(Assisted {
        client,
        organization,
        sales,
        admin,
        client_token: token,
    })
}

/// Sales → Onboarding: initiated, rejected (the next specialist is proposed), accepted; the
/// timeline shows it.
pub async fn handoff(p: &Platform, a: &Assisted) -> anyhow::Result<()> {
    p.heading("3. Sales hands the client to Onboarding");
    let first = p
        .agent(&a.admin, &["onboarding_specialist"], "Olga Onboarding")
        .await?;
    let second = p
        .agent(&a.admin, &["onboarding_specialist"], "Omar Onboarding")
        .await?;
    p.online(second.0, &second.1).await?;
    p.say("register two onboarding specialists", "201 Created");
    let r = p
        .post("/api/v1/agents/handoffs", Some(&a.sales.1), json!({
            "client_id": a.client, "organization_id": a.organization, "from_role": "sales_agent",
            "to_role": "onboarding_specialist", "handoff_type": "warm", "target_agent_id": first.0,
            "handoff_reason": "contract signed",
            "context": {"current_stage": "closed_won", "next_actions": ["kick-off call"], "important_notes": "Wants ERP integration"}}))
        .await?;
    r.expect(StatusCode::CREATED, "handoff")?;
    let id = s(&r.body["handoff_id"]);
    p.say(
        "the sales agent hands the client over (warm)",
        "201 Created",
    );
    let r = p
        .post(&format!("/api/v1/agents/handoffs/{id}/accept"), Some(&first.1), json!({"action": "reject", "rejection_reason": "at capacity this week", "suggested_agent_id": second.0}))
        .await?;
    r.expect(StatusCode::OK, "reject")?;
    let next = s(&r.body["next_handoff_id"]);
    ensure!(
        r.body["next_available_agent"]["agent_id"] == json!(second.0),
        "re-proposed to the other specialist: {}",
        r.body
    );
    p.say(
        "the first specialist rejects it, suggesting a colleague",
        "the colleague is proposed",
    );
    let r = p
        .post(
            &format!("/api/v1/agents/handoffs/{id}/accept"),
            Some(&first.1),
            json!({"action": "accept"}),
        )
        .await?;
    r.expect(StatusCode::CONFLICT, "decided once")?;
    let r = p
        .post(
            &format!("/api/v1/agents/handoffs/{next}/accept"),
            Some(&second.1),
            json!({"action": "accept"}),
        )
        .await?;
    r.expect(StatusCode::OK, "accept")?;
    p.say(
        "the second specialist accepts",
        "200 OK, the client moves to onboarding",
    );
    let r = p
        .get(
            &format!("/api/v1/agents/clients/{}/timeline", a.client),
            &a.sales.1,
        )
        .await?;
    r.expect(StatusCode::OK, "timeline")?;
    let t = r.body.to_string();
    ensure!(
        t.contains("onboarding") && t.contains(&second.0.to_string()),
        "timeline: {t}"
    );
    p.say(
        "the client's timeline",
        "sales → onboarding, with the accepting specialist",
    );
    Ok(())
}

/// What the edge refuses: forged and expired tokens, spoofed agent headers, oversized bodies,
/// bursts.
pub async fn edge(p: &Platform, a: &Assisted) -> anyhow::Result<()> {
    p.heading("4. The edge refuses what it must");
    let me = "/api/v1/auth/me?organizations=false";
    let parts: Vec<&str> = a.sales.1.split('.').collect();
    ensure!(parts.len() == 3, "a compact JWS");
    let tampered = format!("{}.{}.{}", parts[0], parts[1], "A".repeat(parts[2].len()));
    let r = p.call(Method::GET, me, Some(&tampered), None, &[]).await?;
    r.expect(StatusCode::UNAUTHORIZED, "forged")?;
    p.say("a token with a forged signature", "401 at the gateway");
    let r = p
        .call(
            Method::GET,
            me,
            Some("eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vbmUifQ.eyJleHAiOjF9.c2ln"),
            None,
            &[],
        )
        .await?;
    r.expect(StatusCode::UNAUTHORIZED, "unknown key")?;
    p.say("a token from an unknown key", "401 at the gateway");
    let r = p.call(Method::GET, me, None, None, &[]).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "no token: {}",
        r.status
    );
    p.say("no token", "401 at the gateway");
    let spoofed = [
        ("X-Agent-Permissions", r#"{"assisted_signup":["read"]}"#),
        ("X-Agent-ID", &*a.sales.0.to_string()),
    ];
    let r = p
        .call(
            Method::GET,
            "/api/v1/auth/assisted-accounts",
            Some(&a.client_token),
            None,
            &spoofed,
        )
        .await?;
    r.expect(StatusCode::FORBIDDEN, "spoofed agent headers")?;
    p.say(
        "a client sends X-Agent-Permissions / X-Agent-ID itself",
        "403 at the gateway (headers dropped)",
    );
    let big = "x".repeat(2 * 1024 * 1024);
    let r = p
        .post("/api/v1/auth/signup", None, json!({"email": big}))
        .await?;
    ensure!(
        r.status == StatusCode::PAYLOAD_TOO_LARGE,
        "oversized: {}",
        r.status
    );
    p.say("a 2 MB body", "413 at the gateway");
    let mut refused = None;
    for i in 1..=60 {
        let r = p
            .call(
                Method::GET,
                "/api/v1/auth/oauth/google/authorize?redirect_uri=https://app.workflow.com/cb",
                None,
                None,
                &[],
            )
            .await?;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            ensure!(r.headers.contains_key("retry-after"), "Retry-After");
            refused = Some(i);
            break;
        }
    }
    let n =
        refused.context("a burst of 60 OAuth starts was never limited (50/hour per address)")?;
    p.say(
        "a burst of OAuth starts (50 an hour per address)",
        format!("429 from request {n}, with Retry-After"),
    );
    Ok(())
}

/// Every journey, in order.
pub async fn all(p: &Platform) -> anyhow::Result<()> {
    organisations(p).await?;
    let a = assisted(p).await?;
    handoff(p, &a).await?;
    edge(p, &a).await?;
    Ok(())
}
