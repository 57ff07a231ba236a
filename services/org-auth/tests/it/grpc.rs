//! The gRPC API for peers, behind the service credential.
use kit::contracts::workflow::org_auth::v1::{
    CheckMembershipRequest, CreateAgentUserRequest, GetOrganizationRequest, GetUserRequest,
    ListMembersRequest, org_auth_client::OrgAuthClient,
};
use kit::tonic::{self, Request, metadata::MetadataValue, transport::Channel};

use crate::support::*;

const CRED: &str = "internal-credential-for-tests-0123456789abcdef";

fn auth<T>(mut r: Request<T>) -> Request<T> {
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {CRED}")).expect("ascii"),
    );
    r
}

async fn peer() -> anyhow::Result<(OrgAuth, OrgAuthClient<Channel>)> {
    let t = svc_with(&[("FLEET_INTERNAL_TOKEN", CRED)], "203.0.113.44").await?;
    let channel = Channel::from_shared(t.grpc.clone())?.connect().await?;
    Ok((t, OrgAuthClient::new(channel)))
}

#[tokio::test]
async fn peers_read_organisations_members_and_users_with_the_service_credential()
-> anyhow::Result<()> {
    let (t, mut client) = peer().await?;
    let (org, admin_id, _) = t.org_admin(&email("grpc"), "Grpc Org").await?;
    let denied = client
        .get_organization(GetOrganizationRequest {
            organization_id: org.to_string(),
        })
        .await;
    assert_eq!(
        denied.expect_err("no credential").code(),
        tonic::Code::Unauthenticated
    );

    let o = client
        .get_organization(auth(Request::new(GetOrganizationRequest {
            organization_id: org.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(o.name, "Grpc Org");
    assert_eq!(o.slug, "grpc-org");
    let missing = client
        .get_organization(auth(Request::new(GetOrganizationRequest {
            organization_id: Uuid::new_v4().to_string(),
        })))
        .await;
    assert_eq!(missing.expect_err("unknown").code(), tonic::Code::NotFound);
    let bad = client
        .get_organization(auth(Request::new(GetOrganizationRequest {
            organization_id: "x".into(),
        })))
        .await;
    assert_eq!(
        bad.expect_err("not a uuid").code(),
        tonic::Code::InvalidArgument
    );

    let members = client
        .list_members(auth(Request::new(ListMembersRequest {
            organization_id: org.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(members.members.len(), 1);
    assert_eq!(members.members[0].role, "admin");
    let (other_org, _, _) = t.org_admin(&email("grpc2"), "Other Org").await?;
    let check = |o: Uuid| CheckMembershipRequest {
        organization_id: o.to_string(),
        user_id: admin_id.to_string(),
    };
    assert!(
        client
            .check_membership(auth(Request::new(check(org))))
            .await?
            .into_inner()
            .member
    );
    assert!(
        !client
            .check_membership(auth(Request::new(check(other_org))))
            .await?
            .into_inner()
            .member,
        "a member of one org is not a member of another"
    );
    let user = client
        .get_user(auth(Request::new(GetUserRequest {
            user_id: admin_id.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(user.user_type, "client");
    Ok(())
}

#[tokio::test]
async fn registering_an_agent_creates_its_login_and_mails_a_set_password_link() -> anyhow::Result<()>
{
    let (t, mut client) = peer().await?;
    // human-agent registering an agent: a login is created and a set-password link mailed.
    let agent_id = Uuid::new_v4();
    let agent_email = email("agent");
    let created = client
        .create_agent_user(auth(Request::new(CreateAgentUserRequest {
            email: agent_email.clone(),
            full_name: "Sam Peterson".into(),
            agent_id: agent_id.to_string(),
            primary_role: "sales_agent".into(),
        })))
        .await?
        .into_inner();
    assert!(created.password_link_sent);
    let again = client
        .create_agent_user(auth(Request::new(CreateAgentUserRequest {
            email: agent_email.clone(),
            full_name: "Sam".into(),
            agent_id: agent_id.to_string(),
            primary_role: "sales_agent".into(),
        })))
        .await;
    assert_eq!(
        again.expect_err("duplicate").code(),
        tonic::Code::AlreadyExists
    );
    let login = || {
        t.post("/api/v1/auth/login")
            .json(json!({"email": agent_email, "password": "Agent-Pass-2026!"}))
            .send()
    };
    let (st, _) = login().await?.parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "no password until the agent sets one"
    );
    let token = t
        .mailbox()
        .link_param(&agent_email, "Set your password", "token");
    let (st, _) = t
        .post("/api/v1/auth/password-reset/confirm")
        .json(json!({"token": token, "new_password": "Agent-Pass-2026!"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    let (st, li) = login().await?.parts();
    assert_eq!(st, StatusCode::OK, "{li}");
    let claims = t.tokens.verifier.verify_now(&s(&li["access_token"]))?;
    assert_eq!(claims.user_type, kit::auth::UserType::Agent);
    assert_eq!(claims.agent_id, Some(agent_id));
    assert_eq!(claims.primary_role.as_deref(), Some("sales_agent"));
    assert_eq!(claims.organization_id, None);
    Ok(())
}

#[tokio::test]
async fn a_peer_cannot_create_a_platform_admins_login() -> anyhow::Result<()> {
    let (t, mut client) = peer().await?;
    let address = email("admin");
    let admin = client
        .create_agent_user(auth(Request::new(CreateAgentUserRequest {
            email: address.clone(),
            full_name: "Eve".into(),
            agent_id: Uuid::new_v4().to_string(),
            primary_role: "platform_admin".into(),
        })))
        .await;
    assert_eq!(
        admin.expect_err("refused").code(),
        tonic::Code::PermissionDenied
    );
    let made: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE lower(email) = lower($1)")
        .bind(&address)
        .fetch_one(&mut *t.system_tx().await?)
        .await?;
    assert_eq!(made, 0, "no login was made");
    Ok(())
}
