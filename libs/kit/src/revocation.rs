//! Revoked access tokens, fleet-wide: org-auth publishes each revocation as a `tokens_revoked`
//! event on `revocation_events`; every process follows that topic from its start and feeds its
//! verifier's in-memory list, which refuses covered tokens until they expire (`auth::Revoked`).
use std::time::Duration;

use auth::{Revocation, Revoked};
use contracts::events::{Envelope, Event, topic, v1::TokensRevoked};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Why tokens were revoked (the event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Logout,
    RefreshReuse,
    PasswordChanged,
    MemberRemoved,
    RolesReduced,
    AccountClaimed,
    AccessRevoked,
    Deactivated,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Logout => "logout",
            Reason::RefreshReuse => "refresh_reuse",
            Reason::PasswordChanged => "password_changed",
            Reason::MemberRemoved => "member_removed",
            Reason::RolesReduced => "roles_reduced",
            Reason::AccountClaimed => "account_claimed",
            Reason::AccessRevoked => "access_revoked",
            Reason::Deactivated => "deactivated",
        }
    }
}

/// The event for `r`.
pub fn event(r: Revocation, reason: Reason) -> TokensRevoked {
    TokensRevoked {
        kind: "session".into(),
        session_id: r.session_id.to_string(),
        until: r.until,
        reason: reason.as_str().to_string(),
    }
}

/// The revocation an event carries (`None` for a kind this version does not understand).
pub fn from_event(e: &TokensRevoked) -> Option<Revocation> {
    match e.kind.as_str() {
        "session" => Some(Revocation {
            session_id: e.session_id.parse::<Uuid>().ok()?,
            until: e.until,
        }),
        _ => None,
    }
}

/// Applies a `revocation_events` envelope to `list` (other event types are ignored).
pub fn apply(list: &Revoked, env: &Envelope) {
    if env.event_type != TokensRevoked::EVENT_TYPE {
        return;
    }
    match env
        .decode::<TokensRevoked>()
        .ok()
        .as_ref()
        .and_then(from_event)
    {
        Some(r) => list.apply(r),
        None => tracing::warn!(event_id = %env.event_id, "an unreadable revocation; skipped"),
    }
}

/// Follows `revocation_events` into `list` until `shutdown`, restarting after a broker
/// failure, and forgets expired revocations once a minute.
pub async fn follow(kafka: events::KafkaConfig, list: Revoked, shutdown: CancellationToken) {
    let pruning = {
        let (list, shutdown) = (list.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => list.prune(),
                }
            }
        })
    };
    while !shutdown.is_cancelled() {
        let feed = list.clone();
        let followed = events::follow(
            &kafka,
            "revocations",
            topic::REVOCATION,
            move |env| apply(&feed, &env),
            shutdown.clone(),
        )
        .await;
        if let Err(e) = followed {
            tracing::warn!(error = %e, "following revocations failed; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
    let _ = pruning.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_travels_as_its_event_and_back() {
        let r = Revocation {
            session_id: Uuid::new_v4(),
            until: 1_900_000_000,
        };
        assert_eq!(from_event(&event(r, Reason::Logout)), Some(r));
        assert_eq!(
            from_event(&TokensRevoked {
                kind: "device".into(),
                ..Default::default()
            }),
            None
        );
    }
}
