//! Every service the binary can serve, in the order of ARCHITECTURE §3.
use kit::ServiceDef;

pub static ALL: &[&ServiceDef] = &[
    &org_auth::SERVICE,
    &human_agent::SERVICE,
    &research::SERVICE,
    &demo::SERVICE,
    &nda::SERVICE,
    &pricing::SERVICE,
    &proposal::SERVICE,
    &prd::SERVICE,
    &orchestration::SERVICE,
    &voice::SERVICE,
    &config::SERVICE,
    &monitoring::SERVICE,
    &analytics::SERVICE,
    &support::SERVICE,
    &crm::SERVICE,
    &manufacturer_catalog::SERVICE,
    &tenant_provisioning::SERVICE,
    &feedback::SERVICE,
];
