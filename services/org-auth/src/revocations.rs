//! Revoking sessions: the refresh tokens in the database, and the access tokens already out by
//! a `tokens_revoked` event (`kit::revocation`), written with the change that causes it. Each
//! revocation is kept by the verifiers until the tokens it covers expire: an access token of a
//! session lives at most one access-token lifetime after the session's last token was issued;
//! a temporary access token until its grant's end.
use kit::{
    Problem, Timestamp,
    auth::{Revocation, Revoked},
    revocation::{self, Reason},
    uow::Work,
};
use uuid::Uuid;

use crate::sessions;

/// The verifiers' clock may run behind ours by the leeway they allow.
const LEEWAY_SECS: i64 = 60;

/// What revoking needs besides the unit of work: how long an access token lives, and this
/// process's own list.
#[derive(Clone)]
pub(crate) struct Revoking {
    pub access_ttl_secs: i64,
    pub local: Revoked,
}

impl Revoking {
    /// Ends a sign-in: its refresh tokens, and its access tokens at every verifier.
    pub async fn end_family(
        &self,
        w: &mut impl Work,
        org: Option<Uuid>,
        family: Uuid,
        reason: Reason,
    ) -> Result<(), Problem> {
        sessions::revoke_family(w, family, reason.as_str()).await?;
        self.session(w, org, family, reason).await
    }

    /// Ends every sign-in of `user` (in `org`, or everywhere): refresh tokens and access
    /// tokens. Answers how many refresh tokens were revoked.
    pub async fn end_user(
        &self,
        w: &mut impl Work,
        user: Uuid,
        org: Option<Uuid>,
        reason: Reason,
    ) -> Result<u64, Problem> {
        // Exclusive: rotations in flight finish first, so their new tokens are revoked too
        // (see `sessions::lock_sessions`).
        sessions::lock_sessions(w, user, true).await?;
        self.sessions_of(w, user, org, None, reason).await?;
        sessions::revoke_user(w, user, org, None, reason.as_str()).await
    }

    /// Ends every sign-in of `user` but `keep` (the one asking, after a password change).
    pub async fn end_others(
        &self,
        w: &mut impl Work,
        user: Uuid,
        keep: Option<Uuid>,
        reason: Reason,
    ) -> Result<u64, Problem> {
        // As in `end_user`: no rotation in flight escapes the revocation.
        sessions::lock_sessions(w, user, true).await?;
        self.sessions_of(w, user, None, keep, reason).await?;
        sessions::revoke_user(w, user, None, keep, reason.as_str()).await
    }

    /// Revokes the live temporary-access grants given to `agent_user` (a deactivated login
    /// keeps no delegated access either).
    pub async fn grants_to(
        &self,
        w: &mut impl Work,
        agent_user: Uuid,
        reason: Reason,
    ) -> Result<(), Problem> {
        let grants: Vec<(Uuid, Uuid, Timestamp)> = sqlx::query_as(
            "UPDATE access_grants SET revoked_at = now() \
              WHERE granted_to = $1 AND revoked_at IS NULL \
              RETURNING id, organization_id, expires_at",
        )
        .bind(agent_user)
        .fetch_all(&mut **w)
        .await?;
        self.publish_grants(w, grants, reason).await
    }

    /// Revokes the live temporary-access grants of `user` (recorded and published).
    pub async fn grants_of(
        &self,
        w: &mut impl Work,
        user: Uuid,
        reason: Reason,
    ) -> Result<(), Problem> {
        let grants: Vec<(Uuid, Uuid, Timestamp)> = sqlx::query_as(
            "UPDATE access_grants SET revoked_at = now() \
              WHERE user_id = $1 AND revoked_at IS NULL \
              RETURNING id, organization_id, expires_at",
        )
        .bind(user)
        .fetch_all(&mut **w)
        .await?;
        self.publish_grants(w, grants, reason).await
    }

    /// Publishes the end of each of `grants` (id, organisation, end).
    async fn publish_grants(
        &self,
        w: &mut impl Work,
        grants: Vec<(Uuid, Uuid, Timestamp)>,
        reason: Reason,
    ) -> Result<(), Problem> {
        for (grant, org, expires) in grants {
            let r = Revocation {
                session_id: grant,
                until: expires.0.unix_timestamp() + LEEWAY_SECS,
            };
            self.publish(w, Some(org), r, reason).await?;
        }
        Ok(())
    }

    async fn session(
        &self,
        w: &mut impl Work,
        org: Option<Uuid>,
        session: Uuid,
        reason: Reason,
    ) -> Result<(), Problem> {
        let until = Timestamp::now().0.unix_timestamp() + self.access_ttl_secs + LEEWAY_SECS;
        let r = Revocation {
            session_id: session,
            until,
        };
        self.publish(w, org, r, reason).await
    }

    /// The sessions of `user` (but `keep`) that may still have a live access token: the
    /// families with a token issued within one access-token lifetime.
    async fn sessions_of(
        &self,
        w: &mut impl Work,
        user: Uuid,
        org: Option<Uuid>,
        keep: Option<Uuid>,
        reason: Reason,
    ) -> Result<(), Problem> {
        let families: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
            "SELECT DISTINCT family_id, organization_id FROM refresh_tokens \
              WHERE user_id = $1 AND ($2::uuid IS NULL OR organization_id = $2) \
                AND created_at > now() - make_interval(secs => $3) \
                AND ($4::uuid IS NULL OR family_id <> $4)",
        )
        .bind(user)
        .bind(org)
        .bind((self.access_ttl_secs + LEEWAY_SECS) as f64)
        .bind(keep)
        .fetch_all(&mut **w)
        .await?;
        for (family, in_org) in families {
            self.session(w, in_org.or(org), family, reason).await?;
        }
        Ok(())
    }

    async fn publish(
        &self,
        w: &mut impl Work,
        org: Option<Uuid>,
        r: Revocation,
        reason: Reason,
    ) -> Result<(), Problem> {
        // Platform-level (an agent's, a user without an organisation): the nil organisation.
        w.emit(
            org.unwrap_or_else(Uuid::nil),
            r.session_id,
            &revocation::event(r, reason),
        )
        .await?;
        // Other processes learn it from the topic; this one at once, so the caller's next
        // request here is refused. Applied before the commit: should the change fail, the
        // session is refused here a little early — a revocation was asked for either way.
        self.local.apply(r);
        Ok(())
    }
}
