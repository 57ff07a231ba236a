//! gRPC helpers shared by services.
use crate::credentials::{Credentials, Refusal};
use tonic::{
    Request, Status,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

/// Admits internal callers by their own credentials ([`crate::credentials`]). As a tonic
/// interceptor it checks that the caller is known (it cannot see the method); the runtime's
/// gRPC server checks each method against the service's allow-list before this runs, and the
/// HTTP extractor [`crate::InternalCaller`] checks internal routes. Without configured
/// credentials nobody is admitted: an internal API never opens up by omission.
#[derive(Clone, Debug, Default)]
pub struct InternalAuth {
    credentials: Credentials,
}

impl InternalAuth {
    /// The credentials of the service `config` was made for (each service's `ctx.config`).
    pub fn new(config: &crate::FleetConfig) -> Self {
        InternalAuth {
            credentials: config.service_credentials.clone().unwrap_or_default(),
        }
    }

    pub fn from_credentials(credentials: Credentials) -> Self {
        InternalAuth { credentials }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Whether `authorization` (the header's value) is a known caller's credential.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        self.credentials.admits_any(authorization)
    }
}

/// Constant-time equality of two byte strings.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Interceptor for InternalAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let got = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if self.credentials.admits_any(got) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "a valid internal caller credential is required",
            ))
        }
    }
}

/// The gRPC server's gate: every call but the health service's needs a known caller whose
/// grant lists the method (UNAUTHENTICATED / PERMISSION_DENIED otherwise).
pub(crate) async fn gate(
    axum::extract::State(credentials): axum::extract::State<Credentials>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    // Probes and load balancers ask the health service without a credential.
    if path.starts_with("/grpc.health.v1.Health/") {
        return next.run(req).await;
    }
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match credentials.check_grpc(authorization, path) {
        Ok(_) => next.run(req).await,
        Err(r) => {
            let status = match &r {
                Refusal::Unknown => Status::unauthenticated(r.message(path)),
                Refusal::NotAllowed { .. } => Status::permission_denied(r.message(path)),
            };
            status.into_http::<axum::body::Body>()
        }
    }
}

/// Maps a problem to the gRPC status of the same meaning (as `?` does through
/// `From<Problem> for Status`).
pub fn status(p: &problem::Problem) -> Status {
    Status::from(p.clone())
}

/// What a peer client attaches to every call: the calling service's own credential and the correlation id of
/// the request being handled (so one id follows a request across services).
#[derive(Clone)]
pub struct Outgoing {
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl Interceptor for Outgoing {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.authorization {
            req.metadata_mut().insert("authorization", v.clone());
        }
        if let Some(cid) = problem::correlation_id()
            && let Ok(v) = cid.parse()
        {
            req.metadata_mut().insert("x-correlation-id", v);
        }
        Ok(req)
    }
}

/// A channel to a peer service with the caller's credential and correlation id attached.
pub type Peer = InterceptedService<Channel, Outgoing>;

/// A lazily connected channel to the peer whose address is the setting `var`
/// (`ORG_AUTH_GRPC_URL`); in development, the peer's local gRPC port (`dev_port` plus the port
/// offset) when unset. Wrap it in the generated client: `OrgAuthClient::new(peer)`.
pub fn peer(config: &crate::FleetConfig, var: &str, dev_port: u16) -> anyhow::Result<Peer> {
    let default = format!(
        "http://127.0.0.1:{}",
        dev_port.saturating_add(config.port_offset)
    );
    let url = config.require(var, Some(&default))?;
    let channel = Channel::from_shared(url.clone())
        .map_err(|e| anyhow::anyhow!("{var}: {url:?} is not a URI: {e}"))?
        // Connected lazily: a service starts (and reports ready) before its peers do.
        .connect_lazy();
    // The calling service's own credential (never another's: each holds only its own).
    let own = config
        .service_credentials
        .as_ref()
        .and_then(|c| c.own())
        .or(config.internal_token.as_deref().filter(|_| config.is_dev()));
    let authorization =
        match own {
            Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| {
                anyhow::anyhow!("the internal credential is not valid header text")
            })?),
            None => None,
        };
    Ok(InterceptedService::new(channel, Outgoing { authorization }))
}
