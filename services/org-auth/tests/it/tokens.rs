//! The tokens org-auth issues: verifiable with its JWKS; `/auth/me` describes their holder.
use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn the_jwks_verifies_the_tokens_org_auth_issues() -> anyhow::Result<()> {
    use kit::auth::{JwksSource, Verifier, VerifierConfig};
    let t = svc().await?;
    let (_, token, _) = t.verified_user(&email("jw")).await?;
    let v = Verifier::new(VerifierConfig {
        issuer: testkit::ISSUER.into(),
        audience: testkit::AUDIENCE.into(),
        leeway: Duration::from_secs(5),
        source: JwksSource::Remote {
            url: t.url("/.well-known/jwks.json"),
            min_refresh: Duration::from_secs(1),
        },
    })?;
    let claims = v.verify(&token).await?;
    assert_eq!(claims.user_type, kit::auth::UserType::Client);
    Ok(())
}

#[tokio::test]
async fn me_describes_the_caller_with_or_without_its_organisations() -> anyhow::Result<()> {
    let t = svc().await?;
    let (_, token, _) = t.verified_user(&email("jw")).await?;
    let me_req = |q: &str| t.get(&format!("/api/v1/auth/me{q}")).bearer(&token).send();
    let (st, me) = me_req("").await?.parts();
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["user_type"], "client");
    assert_eq!(me["organizations"], json!([]));
    let (_, bare) = me_req("?organizations=false").await?.parts();
    assert!(bare.get("organizations").is_none(), "{bare}");
    assert_eq!(bare["user_id"], me["user_id"]);
    let (st, _) = me_req("?organizations=maybe").await?.parts();
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = t.get("/api/v1/auth/me").send().await?.parts();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let agent = t.tokens.agent(
        Uuid::new_v4(),
        Uuid::new_v4(),
        &["sales_agent", "onboarding_specialist"],
    );
    let (_, me) = t
        .get("/api/v1/auth/me")
        .bearer(&agent)
        .send()
        .await?
        .parts();
    assert_eq!(
        me["all_roles"],
        json!(["sales_agent", "onboarding_specialist"])
    );
    Ok(())
}
