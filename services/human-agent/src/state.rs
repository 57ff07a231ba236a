//! What the handlers share.
use kit::{
    Db, cache::RateLimiter, contracts::workflow::org_auth::v1::org_auth_client::OrgAuthClient,
    grpc::Peer,
};

use std::sync::Arc;

use crate::presence;

#[derive(Clone)]
pub(crate) struct AppState {
    pub db: Db,
    pub limiter: RateLimiter,
    /// org-auth's gRPC API (agent logins); the kit attaches the internal credential.
    pub org_auth: OrgAuthClient<Peer>,
    /// Presence, handoff queues and cached permissions in Redis.
    pub presence: presence::Presence,
    /// Mail to agents and clients (SMTP, or the file mailbox in development).
    pub mail: Arc<dyn notify::Mailer>,
}
