//! Tenants stay apart: forced RLS on every tenant table, and every id-taking operation of the
//! OpenAPI document refuses another tenant's ids without revealing anything of them.
use testkit::Probe;

use crate::support::*;

#[tokio::test]
async fn every_tenant_table_forces_row_level_security_and_the_app_role_owns_none() {
    // Beside the tables with an organization_id: `organizations`, keyed by its own id, and the
    // credential tables, visible to the service's own work only.
    testkit::assert_forced_rls(
        &org_auth::SERVICE,
        &[
            "organizations",
            "email_verifications",
            "password_tokens",
            "mfa_totp",
            "mfa_recovery_codes",
            "oauth_states",
            "oauth_identities",
        ],
    )
    .await;
}

#[tokio::test]
async fn another_organisations_users_get_404_for_everything_of_this_one() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org_id, _, admin) = t.org_admin(&email("john"), "Acme Corp").await?;
    let (member, _, _) = t.member(org_id, &admin, &email("sarah"), "member").await?;
    let (_, _, other_admin) = t.org_admin(&email("jane"), "Acme Corp").await?;
    // Another organisation's admin gets 404 for everything of this one.
    let other_user = t.verified_user(&email("eve")).await?;
    for token in [other_admin.as_str(), other_user.1.as_str()] {
        for (m, path, body) in [
            (Method::GET, format!("/api/v1/organizations/{org_id}"), None),
            (
                Method::PATCH,
                format!("/api/v1/organizations/{org_id}"),
                Some(json!({"industry": "x"})),
            ),
            (
                Method::GET,
                format!("/api/v1/organizations/{org_id}/members"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/organizations/{org_id}/invitations"),
                Some(json!({"email": email("x"), "role": "member"})),
            ),
            (
                Method::PATCH,
                format!("/api/v1/organizations/{org_id}/members/{member}"),
                Some(json!({"role": "viewer"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/organizations/{org_id}/members/{member}"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/organizations/{org_id}/audit-logs"),
                None,
            ),
        ] {
            let (st, body) = t
                .request(m.clone(), &path)
                .bearer(token)
                .json_opt(body)
                .send()
                .await?
                .parts();
            assert_eq!(st, StatusCode::NOT_FOUND, "{m} {path}: {body}");
        }
    }
    Ok(())
}

/// Tenant B: an organisation with a member, a pending invitation and audit records, and an
/// assisted account created by its own sales agent.
struct TenantB {
    org: Uuid,
    member: Uuid,
    invitation: Uuid,
    assisted: Uuid,
    secrets: Vec<String>,
}

fn full() -> Value {
    json!({"assisted_signup": ["create", "read", "update"]})
}

async fn tenant_b(t: &OrgAuth) -> anyhow::Result<TenantB> {
    let (admin_email, name) = (email("b-admin"), testkit::unique_org_name("Tenant B"));
    let (org, _, admin) = t.org_admin(&admin_email, &name).await?;
    let member_email = email("b-member");
    let (member, _, _) = t.member(org, &admin, &member_email, "member").await?;
    let invitee = email("b-invitee");
    let (inv, invite_token) = t.invite(org, &admin, &invitee, "viewer").await?;
    let client_email = email("b-client");
    let sales = t.agent(&["sales_agent"], Some(full()));
    let created = t
        .post("/api/v1/auth/assisted-signup")
        .auth(&sales.auth)
        .json(assisted_body(&client_email))
        .expect(201)
        .await;
    let slug = name.to_lowercase().replace(' ', "-");
    Ok(TenantB {
        org,
        member,
        invitation: uuid(&inv["invitation_id"]),
        assisted: uuid(&created["user_id"]),
        secrets: vec![
            name,
            slug,
            admin_email,
            member_email,
            invitee,
            invite_token,
            client_email,
            s(&created["claim_token"]),
            s(&created["organization_id"]),
            sales.agent_id.to_string(),
        ],
    })
}

const ASSISTED: [(Method, &str); 5] = [
    (Method::GET, "/api/v1/auth/assisted-accounts/{user_id}"),
    (
        Method::POST,
        "/api/v1/auth/assisted-accounts/{user_id}/approve",
    ),
    (
        Method::POST,
        "/api/v1/auth/assisted-accounts/{user_id}/reject",
    ),
    (
        Method::POST,
        "/api/v1/auth/assisted-accounts/{user_id}/resend-claim",
    ),
    (
        Method::POST,
        "/api/v1/auth/assisted-accounts/{user_id}/access",
    ),
];

/// Platform admins' operations on logins: no organisation in their path (refused 403 to
/// anyone else before any id is looked at).
const LOGINS: [(Method, &str); 3] = [
    (Method::POST, "/api/v1/auth/users/{user_id}/deactivate"),
    (Method::POST, "/api/v1/auth/users/{user_id}/reactivate"),
    (Method::POST, "/api/v1/auth/users/{user_id}/unlock"),
];

/// The probe with B's ids and strings and a valid body for every operation that takes one.
fn probe<'a>(t: &'a OrgAuth, b: &TenantB, caller: Auth) -> Probe<'a> {
    let mut p = Probe::new(t, caller)
        .id("org_id", b.org)
        .id("user_id", b.member)
        .id("invitation_id", b.invitation)
        .body(
            Method::PATCH,
            "/api/v1/organizations/{org_id}",
            json!({"industry": "taken over"}),
        )
        .body(
            Method::POST,
            "/api/v1/organizations/{org_id}/invitations",
            json!({"email": email("intruder"), "role": "admin"}),
        )
        .body(
            Method::PATCH,
            "/api/v1/organizations/{org_id}/members/{user_id}",
            json!({"role": "viewer"}),
        )
        .body(
            Method::POST,
            "/api/v1/invitations/{invitation_id}/accept",
            json!({"token": "not-the-links-secret", "full_name": "Intruder", "password": "Intruder-Pass-123"}),
        )
        .allow(
            Method::POST,
            "/api/v1/invitations/{invitation_id}/accept",
            400,
            "the link's secret in the body decides, whoever calls, and an unknown id answers the same",
        )
        .body(
            Method::POST,
            "/api/v1/auth/assisted-accounts/{user_id}/resend-claim",
            json!({"custom_message": "hello"}),
        )
        .body(
            Method::POST,
            "/api/v1/auth/assisted-accounts/{user_id}/access",
            json!({"reason": "peek", "duration_hours": 1}),
        )
        .body(
            Method::POST,
            "/api/v1/auth/assisted-accounts/{user_id}/approve",
            json!({}),
        )
        .body(
            Method::POST,
            "/api/v1/auth/assisted-accounts/{user_id}/reject",
            json!({"reason": "taken over"}),
        );
    for (m, path) in ASSISTED {
        p = p.id_for(m, path, "user_id", b.assisted);
    }
    for secret in &b.secrets {
        p = p.secret(secret);
    }
    p
}

#[tokio::test]
async fn another_tenant_reaches_nothing_of_this_one_through_any_id_taking_operation()
-> anyhow::Result<()> {
    let t = svc().await?;
    let b = tenant_b(&t).await?;
    // Tenant A: an organisation admin, and a sales agent who did not create B's account.
    let (a_org, _, a_admin) = t
        .org_admin(&email("a-admin"), &testkit::unique_org_name("Tenant A"))
        .await?;
    let a_sales = t.agent(&["sales_agent"], Some(full()));

    let report = probe(&t, &b, Auth::bearer(&a_admin)).run().await;
    assert!(
        report.probed.len() >= 12,
        "every id-taking operation: {report}"
    );
    let report = probe(&t, &b, a_sales.auth.clone()).run().await;
    assert!(report.probed.len() >= 12, "{report}");

    // A's own organisation with B's member: the member paths find no such member.
    let own = "A's own organisation: answers A's own records";
    let mut p = probe(&t, &b, Auth::bearer(&a_admin))
        .id("org_id", a_org)
        .skip(Method::GET, "/api/v1/organizations/{org_id}", own)
        .skip(Method::PATCH, "/api/v1/organizations/{org_id}", own)
        .skip(Method::GET, "/api/v1/organizations/{org_id}/members", own)
        .skip(
            Method::GET,
            "/api/v1/organizations/{org_id}/audit-logs",
            own,
        )
        .skip(
            Method::POST,
            "/api/v1/organizations/{org_id}/invitations",
            own,
        )
        .skip(
            Method::POST,
            "/api/v1/invitations/{invitation_id}/accept",
            "no organisation in its path: probed above",
        );
    for (m, path) in ASSISTED.into_iter().chain(LOGINS) {
        p = p.skip(m, path, "no organisation in its path: probed above");
    }
    let report = p.run().await;
    assert_eq!(report.probed.len(), 3, "{report}");
    Ok(())
}
