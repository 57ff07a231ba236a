//! Revoked sessions, held in memory by every verifier until the tokens concerned expire: an
//! access token is refused once its session (`sid`: a sign-in's refresh family, or a delegated
//! grant) is revoked. The list is fed from org-auth's revocation events; checking it is a hash
//! lookup under a read lock — no database or Redis call on the request path.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use uuid::Uuid;

use crate::Claims;

/// One revocation: every token of the session, refused until `until` (unix seconds), after
/// which they have all expired anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: Uuid,
    pub until: i64,
}

/// The revocations a verifier holds (session → until). Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Revoked(Arc<RwLock<HashMap<Uuid, i64>>>);

impl Revoked {
    /// Records `r`; a repeated or older event never shortens what is held.
    pub fn apply(&self, r: Revocation) {
        if r.until <= now() {
            return;
        }
        // Writers are rare (one per revocation event); readers never wait long.
        let mut l = self.0.write().unwrap_or_else(|p| p.into_inner());
        let e = l.entry(r.session_id).or_insert(r.until);
        *e = (*e).max(r.until);
    }

    /// Whether `claims` belong to a revoked session.
    pub fn covers(&self, claims: &Claims) -> bool {
        let Some(sid) = claims.sid else {
            return false;
        };
        let l = self.0.read().unwrap_or_else(|p| p.into_inner());
        !l.is_empty() && l.contains_key(&sid)
    }

    /// Forgets revocations whose tokens have all expired.
    pub fn prune(&self) {
        let now = now();
        let mut l = self.0.write().unwrap_or_else(|p| p.into_inner());
        l.retain(|_, until| *until > now);
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|p| p.into_inner()).len()
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

    fn claims(sid: Option<Uuid>) -> Claims {
        let mut c = Claims::client(Uuid::new_v4(), None, "member");
        c.sid = sid;
        c
    }

    #[test]
    fn a_revoked_session_covers_its_tokens_and_no_other() {
        let r = Revoked::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        r.apply(Revocation {
            session_id: a,
            until: now() + 60,
        });
        assert!(r.covers(&claims(Some(a))));
        assert!(!r.covers(&claims(Some(b))));
        assert!(!r.covers(&claims(None)));
    }

    #[test]
    fn expired_revocations_are_not_kept_and_a_later_one_is_not_shortened() {
        let r = Revoked::default();
        r.apply(Revocation {
            session_id: Uuid::new_v4(),
            until: now() - 1,
        });
        assert!(r.is_empty());
        let s = Uuid::new_v4();
        r.apply(Revocation {
            session_id: s,
            until: now() + 60,
        });
        r.apply(Revocation {
            session_id: s,
            until: now() - 5,
        });
        assert_eq!(r.len(), 1);
        assert!(r.covers(&claims(Some(s))));
    }
}
