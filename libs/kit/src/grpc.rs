//! gRPC helpers shared by services.
use tonic::{Request, Status, service::Interceptor};

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

/// Maps a problem to the gRPC status of the same meaning.
pub fn status(p: &problem::Problem) -> Status {
    let msg = p.detail().to_string();
    match p.status().as_u16() {
        400 | 413 | 415 | 422 => Status::invalid_argument(msg),
        401 => Status::unauthenticated(msg),
        403 => Status::permission_denied(msg),
        404 => Status::not_found(msg),
        409 => Status::already_exists(msg),
        429 => Status::resource_exhausted(msg),
        503 => Status::unavailable(msg),
        _ => Status::internal("internal error"),
    }
}
