//! The permissions lookup Kong calls: the service credential only, cached, current after a
//! change.
use crate::support::*;

#[tokio::test]
async fn the_permissions_lookup_takes_the_service_credential_and_answers_from_its_cache()
-> anyhow::Result<()> {
    let p = pair().await?;
    let (id, token) = p.agent(&["sales_agent"], 5, &[]).await?;
    let path = format!("/api/v1/agents/{id}/permissions");
    let lookup = |token: Option<&str>| p.get(&path).bearer_opt(token).send();
    let (st, _) = lookup(None).await?.parts();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = lookup(Some(&token)).await?.parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "an agent's own token is not the service credential"
    );
    let (st, body) = lookup(Some(CRED)).await?.parts();
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        body["permissions"]["assisted_signup"],
        json!(["create", "read", "update"])
    );
    assert_eq!(body["status"], "active", "the account, which Kong checks");
    assert_eq!(body["presence"], "offline");
    let (_, again) = lookup(Some(CRED)).await?.parts();
    assert_eq!(again, body, "the cached answer is the same answer");
    let (st, _) = p
        .get(&format!("/api/v1/agents/{}/permissions", Uuid::new_v4()))
        .bearer(CRED)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_change_of_permissions_shows_on_the_next_lookup_and_a_deactivated_agent_holds_none()
-> anyhow::Result<()> {
    let p = pair().await?;
    let (id, _) = p.agent(&["sales_agent"], 5, &[]).await?;
    let path = format!("/api/v1/agents/{id}/permissions");
    // A first lookup fills the cache.
    p.get(&path).bearer(CRED).expect(200).await;
    let (st, _) = p
        .patch(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .json(json!({"permissions": {"research_engine": ["read"]}}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    let (_, body) = p.get(&path).bearer(CRED).send().await?.parts();
    assert_eq!(
        body["permissions"],
        json!({"research_engine": ["read"]}),
        "a change shows on the next lookup"
    );
    p.patch(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .json(json!({"is_active": false}))
        .send()
        .await?;
    let (_, body) = p.get(&path).bearer(CRED).send().await?.parts();
    assert_eq!(
        body["permissions"],
        json!({}),
        "a deactivated agent holds nothing"
    );
    assert_eq!(body["status"], "inactive");
    Ok(())
}

#[tokio::test]
async fn the_lookup_answers_the_specifications_fields_with_the_agents_workload()
-> anyhow::Result<()> {
    let p = pair().await?;
    let (id, _) = p
        .agent(&["sales_agent", "onboarding_specialist"], 5, &[])
        .await?;
    let client = Uuid::new_v4();
    assert_eq!(
        p.assign(client, Uuid::new_v4(), "sales_agent", id).await?,
        StatusCode::CREATED
    );
    let profile = p
        .get(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .expect(200)
        .await;
    let body = p
        .get(&format!("/api/v1/agents/{id}/permissions"))
        .bearer(CRED)
        .expect(200)
        .await;
    assert_eq!(body["user_id"], profile["user_id"]);
    assert_eq!(
        body["all_roles"],
        json!(["sales_agent", "onboarding_specialist"])
    );
    assert_eq!(body["roles"], body["all_roles"], "kept for the edge");
    assert_eq!(body["primary_role"], "sales_agent");
    assert_eq!(body["availability"], "offline");
    assert_eq!(
        body["capacity"],
        json!({"max_concurrent_clients": 5, "current_workload": 1, "available_capacity": 4})
    );
    Ok(())
}
