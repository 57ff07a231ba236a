//! The gRPC API for peers (agent, permissions, assign), behind the service credential.
use crate::support::*;

#[tokio::test]
async fn peers_read_agents_and_permissions_and_assign_clients_with_the_service_credential()
-> anyhow::Result<()> {
    use kit::contracts::workflow::human_agent::v1::{
        AssignRequest, GetAgentRequest, human_agent_client::HumanAgentClient,
    };
    use kit::tonic::{self, Request, metadata::MetadataValue};
    fn auth<T>(mut r: Request<T>) -> Request<T> {
        r.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {CRED}")).expect("ascii"),
        );
        r
    }
    let p = pair().await?;
    let (id, t) = p.agent(&["support_specialist"], 2, &["billing"]).await?;
    p.online(id, &t).await?;
    let channel = tonic::transport::Channel::from_shared(p.grpc.clone())?
        .connect()
        .await?;
    let mut c = HumanAgentClient::new(channel);
    let denied = c
        .get_agent(GetAgentRequest {
            agent_id: id.to_string(),
        })
        .await;
    assert_eq!(
        denied.expect_err("no credential").code(),
        tonic::Code::Unauthenticated
    );
    let a = c
        .get_agent(auth(Request::new(GetAgentRequest {
            agent_id: id.to_string(),
        })))
        .await?
        .into_inner();
    assert_eq!(a.primary_role, "support_specialist");
    let perms = c
        .get_permissions(auth(Request::new(GetAgentRequest {
            agent_id: id.to_string(),
        })))
        .await?
        .into_inner();
    assert!(perms.permissions_json.contains("support"));
    let missing = c
        .get_agent(auth(Request::new(GetAgentRequest {
            agent_id: Uuid::new_v4().to_string(),
        })))
        .await;
    assert_eq!(missing.expect_err("unknown").code(), tonic::Code::NotFound);
    let req = |skills: Vec<String>| AssignRequest {
        client_id: Uuid::new_v4().to_string(),
        organization_id: Uuid::new_v4().to_string(),
        role_type: "support_specialist".into(),
        agent_id: String::new(),
        required_skills: skills,
        language: String::new(),
    };
    let done = c
        .assign(auth(Request::new(req(vec!["billing".into()]))))
        .await?
        .into_inner();
    assert_eq!(done.agent_id, id.to_string());
    assert_eq!(done.lifecycle_stage, "support");
    let none = c
        .assign(auth(Request::new(req(vec!["kubernetes".into()]))))
        .await;
    assert_eq!(
        none.expect_err("no match").code(),
        tonic::Code::ResourceExhausted
    );
    Ok(())
}

#[tokio::test]
async fn get_permissions_answers_as_the_http_lookup_does_and_gives_a_platform_admin_everything()
-> anyhow::Result<()> {
    use kit::contracts::workflow::human_agent::v1::{
        GetAgentRequest, human_agent_client::HumanAgentClient,
    };
    use kit::tonic::{Request, metadata::MetadataValue};
    let p = pair().await?;
    let (id, _) = p.agent(&["sales_agent"], 4, &[]).await?;
    p.patch(&format!("/api/v1/agents/{id}"))
        .bearer(&p.admin)
        .json(json!({"roles": ["sales_agent", "platform_admin"]}))
        .expect(200)
        .await;
    let mut c = HumanAgentClient::new(
        kit::tonic::transport::Channel::from_shared(p.grpc.clone())?
            .connect()
            .await?,
    );
    let mut req = Request::new(GetAgentRequest {
        agent_id: id.to_string(),
    });
    req.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {CRED}"))?,
    );
    let perms = c.get_permissions(req).await?.into_inner();
    let granted: Value = serde_json::from_str(&perms.permissions_json)?;
    assert_eq!(granted["platform_admin"], json!(["all"]));
    let http = p
        .get(&format!("/api/v1/agents/{id}/permissions"))
        .bearer(CRED)
        .expect(200)
        .await;
    assert_eq!(granted, http["permissions"], "the same answer over both");
    assert_eq!(perms.all_roles, ["sales_agent", "platform_admin"]);
    assert_eq!(
        (perms.status.as_str(), perms.availability.as_str()),
        ("active", "offline")
    );
    assert_eq!(perms.user_id, s(&http["user_id"]));
    let capacity = perms.capacity.expect("capacity");
    assert_eq!(
        (
            capacity.max_concurrent_clients,
            capacity.current_workload,
            capacity.available_capacity
        ),
        (4, 0, 4)
    );
    Ok(())
}
