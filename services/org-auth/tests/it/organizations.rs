//! Organisations: creation with a slug, settings and branding.
use crate::support::*;

#[tokio::test]
async fn creating_an_organisation_gives_it_a_slug_and_queues_its_research() -> anyhow::Result<()> {
    let t = svc().await?;
    let (_, token, _) = t.verified_user(&email("john")).await?;
    let (st, org) = t
        .post("/api/v1/organizations")
        .bearer(&token)
        .json(json!({"organization_name": "Acme Corp", "industry": "e-commerce", "company_size": "50-100"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED, "{org}");
    assert_eq!(org["slug"], "acme-corp");
    assert_eq!(org["onboarding_status"], "research_queued");
    assert!(s(&org["dashboard_url"]).ends_with("/acme-corp"));
    let events = t.outbox_types().await?;
    assert!(
        events.iter().any(|x| x == "organization_created"),
        "organization_created in {events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_second_organisation_with_the_same_name_gets_its_own_slug() -> anyhow::Result<()> {
    let t = svc().await?;
    t.org_admin(&email("john"), "Acme Corp").await?;
    let (_, _, other_admin) = t.org_admin(&email("jane"), "Acme Corp").await?;
    let (_, mine) = t
        .get("/api/v1/auth/me")
        .bearer(&other_admin)
        .send()
        .await?
        .parts();
    assert_eq!(mine["organizations"][0]["slug"], "acme-corp-2");
    Ok(())
}

#[tokio::test]
async fn admins_change_settings_and_branding_and_viewers_only_read_them() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("cfo"), "Brand Co").await?;
    let (_, viewer, _) = t.member(org, &admin, &email("v"), "viewer").await?;
    let path = format!("/api/v1/organizations/{org}");
    let (st, o) = t
        .patch(&path)
        .bearer(&admin)
        .json(json!({"branding": {"primary_color": "#112233"}, "settings": {"mfa_required": true}, "website": "https://brand.example"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{o}");
    assert_eq!(o["branding"]["primary_color"], "#112233");
    assert_eq!(o["settings"]["mfa_required"], true);
    for bad in [
        json!({"branding": {"primary_color": "red"}}),
        json!({"website": "javascript:alert(1)"}),
        json!({"settings": {"unknown": 1}}),
        json!({"organization_name": "x"}),
    ] {
        let (st, body) = t
            .patch(&path)
            .bearer(&admin)
            .json(&bad)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (st, _) = t
        .patch(&path)
        .bearer(&viewer)
        .json(json!({"industry": "x"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, got) = t.get(&path).bearer(&viewer).send().await?.parts();
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["website"], "https://brand.example");
    Ok(())
}
