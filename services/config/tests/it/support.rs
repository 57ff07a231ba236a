//! What every test starts from: the service with the shipped defaults loaded, tenants and a
//! platform admin.
use config::SERVICE;
use testkit::Svc;
use uuid::Uuid;

pub struct Tenant {
    pub org: Uuid,
    pub admin: String,
    pub member: String,
}

/// The service, seeded as `fleet migrate` seeds it.
pub async fn service() -> Svc {
    service_with(&[]).await
}

/// [`service`] with extra settings.
pub async fn service_with(extra: &[(&str, &str)]) -> Svc {
    let t = Svc::start_with(&SERVICE, extra)
        .await
        .expect("the service starts");
    let seed = SERVICE.seed.expect("config ships a seed");
    seed(t.db().owner.clone()).await.expect("the seed loads");
    t
}

pub fn tenant(svc: &Svc) -> Tenant {
    let (org, user) = (Uuid::new_v4(), Uuid::new_v4());
    Tenant {
        org,
        admin: svc.tokens.client(user, org, "admin"),
        member: svc.tokens.client(Uuid::new_v4(), org, "member"),
    }
}

pub fn platform_admin(svc: &Svc) -> String {
    svc.tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["platform_admin"])
}

pub const THEME: &str = "/api/v1/configs/demo.themes/default";
