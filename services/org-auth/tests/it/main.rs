//! org-auth's token endpoints over HTTP.
use kit::auth::{JwksSource, Verifier, VerifierConfig};
use uuid::Uuid;

#[tokio::test]
async fn me_returns_the_verified_principal() -> anyhow::Result<()> {
    let svc = testkit::spawn(&org_auth::SERVICE).await?;
    let (user, org) = (Uuid::new_v4(), Uuid::new_v4());
    let token = svc.tokens.client(user, org, "admin");
    let res = svc
        .http
        .get(svc.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let me: serde_json::Value = res.json().await?;
    assert_eq!(me["user_id"], user.to_string());
    assert_eq!(me["organization_id"], org.to_string());
    assert_eq!(me["user_type"], "client");
    assert_eq!(me["role"], "admin");

    let (agent_user, agent) = (Uuid::new_v4(), Uuid::new_v4());
    let token = svc
        .tokens
        .agent(agent_user, agent, &["sales_agent", "onboarding_specialist"]);
    let me: serde_json::Value = svc
        .http
        .get(svc.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["user_type"], "agent");
    assert_eq!(me["agent_id"], agent.to_string());
    assert_eq!(me["organization_id"], serde_json::Value::Null);
    assert_eq!(
        me["all_roles"],
        serde_json::json!(["sales_agent", "onboarding_specialist"])
    );

    let res = svc.http.get(svc.url("/api/v1/auth/me")).send().await?;
    assert_eq!(res.status(), 401);
    let other = testkit::Tokens::new()?; // signed by a key org-auth does not know
    let res = svc
        .http
        .get(svc.url("/api/v1/auth/me"))
        .bearer_auth(other.client(user, org, "admin"))
        .send()
        .await?;
    assert_eq!(res.status(), 401);
    Ok(())
}

#[tokio::test]
async fn jwks_verifies_the_tokens_org_auth_issues() -> anyhow::Result<()> {
    let svc = testkit::spawn(&org_auth::SERVICE).await?;
    let res = svc
        .http
        .get(svc.url("/.well-known/jwks.json"))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let text = res.text().await?;
    assert!(!text.contains("\"d\""), "public parts only");
    // A verifier that knows nothing but the JWKS URL accepts org-auth's token.
    let v = Verifier::new(VerifierConfig {
        issuer: testkit::ISSUER.into(),
        audience: testkit::AUDIENCE.into(),
        leeway: std::time::Duration::from_secs(5),
        source: JwksSource::Remote {
            url: svc.url("/.well-known/jwks.json"),
            min_refresh: std::time::Duration::from_secs(1),
        },
    })?;
    let token = svc.tokens.client(Uuid::new_v4(), Uuid::new_v4(), "member");
    assert_eq!(v.verify(&token).await?.role, "member");
    let doc: serde_json::Value = svc
        .http
        .get(svc.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    assert!(doc["paths"]["/api/v1/auth/me"]["get"].is_object());
    Ok(())
}
