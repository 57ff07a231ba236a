//! gRPC helpers shared by services.
use tonic::{
    Request, Status,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

/// Admits internal callers presenting the service credential (`authorization: Bearer <token>`,
/// compared in constant time). Without a configured credential, development admits every local
/// caller and production admits none: an internal API never opens up by omission.
#[derive(Clone)]
pub struct InternalAuth {
    token: Option<String>,
    open: bool,
}

impl InternalAuth {
    pub fn new(config: &crate::FleetConfig) -> Self {
        InternalAuth {
            token: config.internal_token.clone(),
            open: config.is_dev() && config.internal_token.is_none(),
        }
    }
}

/// Constant-time equality of two byte strings.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl InternalAuth {
    /// Whether `authorization` (the header's value) carries the service credential.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        if self.open {
            return true;
        }
        let Some(want) = &self.token else {
            return false;
        };
        let got = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        same(got.as_bytes(), want.as_bytes())
    }
}

impl Interceptor for InternalAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        if self.open {
            return Ok(req);
        }
        let Some(want) = &self.token else {
            return Err(Status::unauthenticated(
                "internal API: no service credential is configured",
            ));
        };
        let got = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if same(got.as_bytes(), want.as_bytes()) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "a valid service credential is required",
            ))
        }
    }
}

/// Maps a problem to the gRPC status of the same meaning (as `?` does through
/// `From<Problem> for Status`).
pub fn status(p: &problem::Problem) -> Status {
    Status::from(p.clone())
}

/// What a peer client attaches to every call: the service credential and the correlation id of
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
    let authorization =
        match &config.internal_token {
            Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| {
                anyhow::anyhow!("the internal credential is not valid header text")
            })?),
            None => None,
        };
    Ok(InterceptedService::new(channel, Outgoing { authorization }))
}
