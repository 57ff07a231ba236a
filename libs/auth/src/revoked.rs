//! Revoked tokens, held in memory by every verifier until the tokens concerned expire: an
//! access token is refused once its session (`sid`: a sign-in's refresh family, or a delegated
//! grant) is revoked, or when it was issued before its user's tokens were cut off (removal from
//! an organisation, fewer roles, a new password, deactivation). The list is fed from org-auth's
//! revocation events and a snapshot at start; checking it is a hash lookup under a read lock —
//! no database or Redis call on the request path.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Claims;

/// One revocation, as org-auth publishes it and serves it in its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// Every token of the session (a sign-in's refresh family, or a delegated grant).
    Session { session_id: Uuid, until: i64 },
    /// Every token of the user issued before `not_before` (unix seconds).
    User {
        user_id: Uuid,
        not_before: i64,
        until: i64,
    },
}

impl Revocation {
    /// The last moment (unix seconds) the revocation matters: after it every token it covers
    /// has expired anyway.
    pub fn until(&self) -> i64 {
        match self {
            Revocation::Session { until, .. } | Revocation::User { until, .. } => *until,
        }
    }
}

#[derive(Default)]
struct Lists {
    sessions: HashMap<Uuid, i64>,
    /// user → (not_before, until)
    users: HashMap<Uuid, (i64, i64)>,
}

/// The revocations a verifier holds. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Revoked(Arc<RwLock<Lists>>);

impl Revoked {
    /// Records `r` (repeated or older events change nothing they should not: a user's cut-off
    /// only moves forward).
    pub fn apply(&self, r: Revocation) {
        let now = now();
        if r.until() <= now {
            return;
        }
        // Writers are rare (one per revocation event); readers never wait long.
        let mut l = self.0.write().unwrap_or_else(|p| p.into_inner());
        match r {
            Revocation::Session { session_id, until } => {
                let e = l.sessions.entry(session_id).or_insert(until);
                *e = (*e).max(until);
            }
            Revocation::User {
                user_id,
                not_before,
                until,
            } => {
                let e = l.users.entry(user_id).or_insert((not_before, until));
                *e = (e.0.max(not_before), e.1.max(until));
            }
        }
    }

    /// Whether `claims` are covered by a revocation.
    pub fn covers(&self, claims: &Claims) -> bool {
        let l = self.0.read().unwrap_or_else(|p| p.into_inner());
        if l.sessions.is_empty() && l.users.is_empty() {
            return false;
        }
        claims.sid.is_some_and(|s| l.sessions.contains_key(&s))
            || l.users
                .get(&claims.user_id)
                .is_some_and(|(not_before, _)| claims.iat < *not_before)
    }

    /// Forgets revocations whose tokens have all expired.
    pub fn prune(&self) {
        let now = now();
        let mut l = self.0.write().unwrap_or_else(|p| p.into_inner());
        l.sessions.retain(|_, until| *until > now);
        l.users.retain(|_, (_, until)| *until > now);
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        let l = self.0.read().unwrap_or_else(|p| p.into_inner());
        l.sessions.len() + l.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sid: Option<Uuid>, iat: i64) -> Claims {
        let mut c = Claims::client(Uuid::new_v4(), None, "member");
        c.sid = sid;
        c.iat = iat;
        c
    }

    #[test]
    fn a_revoked_session_covers_its_tokens_and_no_other() {
        let r = Revoked::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        r.apply(Revocation::Session {
            session_id: a,
            until: now() + 60,
        });
        assert!(r.covers(&claims(Some(a), now())));
        assert!(!r.covers(&claims(Some(b), now())));
        assert!(!r.covers(&claims(None, now())));
    }

    #[test]
    fn a_user_cut_off_covers_tokens_issued_before_it_and_only_moves_forward() {
        let r = Revoked::default();
        let c = claims(None, now() - 10);
        r.apply(Revocation::User {
            user_id: c.user_id,
            not_before: now() - 5,
            until: now() + 60,
        });
        assert!(r.covers(&c));
        let fresh = Claims {
            iat: now(),
            ..c.clone()
        };
        assert!(
            !r.covers(&fresh),
            "a token issued after the cut-off is good"
        );
        r.apply(Revocation::User {
            user_id: c.user_id,
            not_before: now() - 100,
            until: now() + 60,
        });
        assert!(
            r.covers(&c),
            "an older event does not move the cut-off back"
        );
    }

    #[test]
    fn expired_revocations_are_not_kept() {
        let r = Revoked::default();
        r.apply(Revocation::Session {
            session_id: Uuid::new_v4(),
            until: now() - 1,
        });
        assert!(r.is_empty());
        r.apply(Revocation::Session {
            session_id: Uuid::new_v4(),
            until: now() + 1,
        });
        assert_eq!(r.len(), 1);
    }
}
