//! What every test of this service starts from: the service, and a tenant with a token.
use service_template::SERVICE;
use testkit::Svc;
use uuid::Uuid;

pub struct Tenant {
    pub org: Uuid,
    pub user: Uuid,
    pub token: String,
}

pub async fn service() -> Svc {
    Svc::start(&SERVICE).await.expect("the service starts")
}

pub async fn service_with(extra: &[(&str, &str)]) -> Svc {
    Svc::start_with(&SERVICE, extra)
        .await
        .expect("the service starts")
}

pub fn tenant(svc: &Svc) -> Tenant {
    let (org, user) = (Uuid::new_v4(), Uuid::new_v4());
    Tenant {
        org,
        user,
        token: svc.tokens.client(user, org, "admin"),
    }
}
