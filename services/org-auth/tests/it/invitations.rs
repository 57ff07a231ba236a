//! Invitations: mailed with the admin's message, one pending per address, accepted once with
//! the link's secret.
use crate::support::*;

#[tokio::test]
async fn an_invitation_is_mailed_and_accepted_once_with_its_links_secret() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org_id, _, admin) = t.org_admin(&email("john"), "Acme Corp").await?;
    let member_email = email("sarah");
    let (st, inv) = t
        .post(&format!("/api/v1/organizations/{org_id}/invitations"))
        .bearer(&admin)
        .json(json!({"email": member_email, "role": "member", "permissions": {"prd_builder": ["read", "write"], "research": ["read"]}, "custom_message": "Join us!"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["status"], "sent");
    let mail = t.mailbox().all(&member_email);
    assert!(
        mail.last()
            .expect("invitation mail")
            .text
            .contains("Join us!")
    );
    let (st, _) = t
        .post(&format!("/api/v1/organizations/{org_id}/invitations"))
        .bearer(&admin)
        .json(json!({"email": member_email, "role": "member"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CONFLICT, "one pending invitation per email");

    let token = testkit::mailbox::link_param(&s(&inv["invitation_link"]), "token").expect("token");
    let accept = format!("/api/v1/invitations/{}/accept", s(&inv["invitation_id"]));
    let (st, _) = t
        .post(&accept)
        .json(json!({"token": "wrong", "full_name": "S", "password": "Another-Pass-987"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "the link's secret is required");
    let (st, joined) = t
        .post(&accept)
        .json(json!({"token": token, "full_name": "Sarah", "password": "Another-Pass-987"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "member");
    assert_eq!(joined["permissions"]["research"], json!(["read"]));
    let (st, _) = t
        .post(&accept)
        .json(json!({"token": token, "full_name": "Sarah", "password": "Another-Pass-987"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::BAD_REQUEST, "an invitation is used once");

    let events = t.outbox_types().await?;
    for e in ["member_invited", "member_joined"] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
    Ok(())
}
