//! OAuth sign-in (Google, GitHub) against a mock provider: PKCE, allow-listed redirects,
//! single-use state, linking by verified email only.
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

/// Runs authorize, checks the redirect, and returns the state.
async fn start(t: &OrgAuth, provider: &str) -> anyhow::Result<String> {
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
    Ok(loc
        .split("state=")
        .nth(1)
        .expect("state")
        .split('&')
        .next()
        .expect("s")
        .to_string())
}

async fn finish(t: &OrgAuth, provider: &str, state: &str) -> anyhow::Result<(StatusCode, Value)> {
    Ok(t.get(&format!(
        "/api/v1/auth/oauth/{provider}/callback?code=good-code&state={state}"
    ))
    .send()
    .await?
    .parts())
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
            "/api/v1/auth/oauth/google/callback?code=bad-code&state={state}"
        ))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{body}");
    assert!(!body.to_string().contains("google-secret"));
    Ok(())
}
