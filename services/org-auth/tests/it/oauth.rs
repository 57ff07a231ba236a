//! OAuth sign-in (Google, GitHub) against a mock provider: PKCE, allow-listed redirects,
//! single-use state bound to the starting browser, linking by verified email only (resetting an
//! unverified account first), and the MFA step.
use crate::support::*;
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

async fn spawn(m: &MockServer, extra: &[(&str, &str)]) -> anyhow::Result<OrgAuth> {
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
    svc_with(&env, "203.0.113.80").await
}

/// A sign-in started by one browser: the `state` and the binding cookie it was given.
struct Started {
    state: String,
    cookie: String,
}

/// Runs authorize, checks the redirect and the binding cookie; the state and the cookie.
async fn start(t: &OrgAuth, provider: &str) -> anyhow::Result<Started> {
    let res = t
        .get(&format!("/api/v1/auth/oauth/{provider}/authorize"))
        .query("redirect_uri", REDIRECT)
        .no_redirects()
        .send()
        .await?;
    assert_eq!(res.status, 302);
    let loc = res.headers["location"].to_str()?.to_string();
    assert!(
        loc.contains("code_challenge_method=S256") && loc.contains("code_challenge="),
        "{loc}"
    );
    assert!(loc.contains("redirect_uri=https%3A%2F%2Fapp.test%2Fauth%2Fcallback"));
    let set = res
        .header("set-cookie")
        .expect("a binding cookie")
        .to_string();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/api/v1/auth/oauth",
    ] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let cookie = set.split(';').next().expect("name=value").to_string();
    let state = loc
        .split("state=")
        .nth(1)
        .expect("state")
        .split('&')
        .next()
        .expect("s")
        .to_string();
    assert_eq!(
        res.body["state"],
        state.as_str(),
        "the answer names its state"
    );
    Ok(Started { state, cookie })
}

/// The provider's callback as the browser holding `cookie` (if any) presents it.
async fn callback(
    t: &OrgAuth,
    provider: &str,
    state: &str,
    cookie: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut req = t.get(&format!(
        "/api/v1/auth/oauth/{provider}/callback?code=good-code&state={state}"
    ));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    Ok(req.send().await?.parts())
}

async fn finish(t: &OrgAuth, provider: &str, st: &Started) -> anyhow::Result<(StatusCode, Value)> {
    callback(t, provider, &st.state, Some(&st.cookie)).await
}

/// A Google profile with a verified `email`.
async fn google_says(m: &MockServer, sub: &str, email: &str) {
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"sub": sub, "email": email, "email_verified": true, "name": "Owner"}),
        ))
        .mount(m)
        .await;
}

#[tokio::test]
async fn a_google_sign_in_creates_the_account_then_finds_it() -> anyhow::Result<()> {
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
        .get("/api/v1/auth/oauth/myspace/authorize?redirect_uri=x")
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = t
        .get("/api/v1/auth/oauth/google/authorize?redirect_uri=https%3A%2F%2Fevil.test%2Fcb")
        .send()
        .await?
        .parts();
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
    let forged = Started {
        state: "forged-state".into(),
        cookie: state.cookie.clone(),
    };
    let (st, _) = finish(&t, "google", &forged).await?;
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
async fn a_github_sign_in_links_to_an_existing_account_by_verified_email_only() -> anyhow::Result<()>
{
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
    let audit = t.audit_actions().await?;
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
        .get(&format!(
            "/api/v1/auth/oauth/google/callback?code=bad-code&state={}",
            state.state
        ))
        .header("cookie", &state.cookie)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{body}");
    assert!(!body.to_string().contains("google-secret"));
    Ok(())
}

#[tokio::test]
async fn a_callback_presented_by_another_browser_signs_nobody_in() -> anyhow::Result<()> {
    let m = provider_mock().await;
    google_says(&m, "g-bound", &email("bound")).await;
    let t = spawn(&m, &[]).await?;
    let started = start(&t, "google").await?;
    // The callback URL leaked (or was forged into someone's browser): without the starting
    // browser's cookie, or with another browser's, nobody is signed in.
    let (st, body) = callback(&t, "google", &started.state, None).await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["type"]
            .as_str()
            .map(|t| t.ends_with("oauth-state-invalid")),
        Some(true)
    );
    let other = start(&t, "google").await?;
    let (st, _) = callback(&t, "google", &started.state, Some(&other.cookie)).await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "another browser's binding");
    // The real browser still finishes its own sign-in.
    let (st, done) = finish(&t, "google", &started).await?;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert!(done["access_token"].is_string());
    Ok(())
}

#[tokio::test]
async fn authorize_takes_the_clients_state_and_names_it_in_the_answer() -> anyhow::Result<()> {
    let m = provider_mock().await;
    let t = spawn(&m, &[]).await?;
    let mine = "random_state_token_0123";
    let res = t
        .get("/api/v1/auth/oauth/google/authorize")
        .query("redirect_uri", REDIRECT)
        .query("state", mine)
        .no_redirects()
        .send()
        .await?;
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.body["state"], mine);
    let loc = res.headers["location"].to_str()?.to_string();
    assert!(loc.contains(&format!("state={mine}&")), "{loc}");
    assert_eq!(res.body["authorization_url"], loc.as_str());
    let (st, again) = t
        .get("/api/v1/auth/oauth/google/authorize")
        .query("redirect_uri", REDIRECT)
        .query("state", mine)
        .no_redirects()
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a state is pending once: {again}"
    );
    let (st, short) = t
        .get("/api/v1/auth/oauth/google/authorize")
        .query("redirect_uri", REDIRECT)
        .query("state", "abc")
        .no_redirects()
        .send()
        .await?
        .parts();
    assert!(st.is_client_error(), "{short}");
    assert!(short.to_string().contains("state"), "{short}");
    Ok(())
}

#[tokio::test]
async fn an_oauth_sign_in_to_an_unverified_account_clears_what_its_creator_set()
-> anyhow::Result<()> {
    let m = provider_mock().await;
    let owner = email("owner");
    google_says(&m, "g-owner", &owner).await;
    let t = spawn(&m, &[]).await?;
    // Someone registers the owner's address first, with their own password, and never verifies.
    t.post("/api/v1/auth/signup")
        .json(signup_body(&owner))
        .expect(201)
        .await;
    let squatter_code = t.code_for(&owner);
    let started = start(&t, "google").await?;
    let (st, signed) = finish(&t, "google", &started).await?;
    assert_eq!(st, StatusCode::OK, "{signed}");
    assert!(signed["access_token"].is_string());
    // The squatter's password and pending verification are gone.
    let (st, _) = t
        .post("/api/v1/auth/login")
        .json(json!({"email": owner, "password": "SecurePass123!"}))
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the squatter's password no longer works"
    );
    let (st, _) = t
        .post("/api/v1/auth/verify-email")
        .json(json!({"email": owner, "verification_code": squatter_code}))
        .send()
        .await?
        .parts();
    assert!(
        st.is_client_error(),
        "the squatter's code no longer verifies"
    );
    let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(uuid(&signed["user_id"]))
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert!(hash.is_none(), "no password is left");
    let audit = t.audit_actions().await?;
    assert!(
        audit.iter().any(|a| a == "unverified_account_reset"),
        "{audit:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_oauth_sign_in_of_a_user_with_mfa_owes_the_code() -> anyhow::Result<()> {
    let m = provider_mock().await;
    let who = email("mfa-oauth");
    google_says(&m, "g-mfa", &who).await;
    let t = spawn(&m, &[]).await?;
    let (_, token, _) = t.verified_user(&who).await?;
    let secret = crate::mfa::turn_on(&t, &token).await?;
    let started = start(&t, "google").await?;
    let (st, step) = finish(&t, "google", &started).await?;
    assert_eq!(st, StatusCode::OK, "{step}");
    assert_eq!(step["mfa_required"], true);
    assert!(
        step.get("access_token").is_none(),
        "no tokens before the code: {step}"
    );
    assert!(step.get("refresh_token").is_none());
    let (st, done) = t
        .post("/api/v1/auth/login/mfa")
        .json(json!({"mfa_token": step["mfa_token"], "code": org_auth::totp_code(&secret, 0)}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{done}");
    assert!(done["access_token"].is_string());
    Ok(())
}
