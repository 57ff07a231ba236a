//! Revoked sessions, held in memory by every verifier until the tokens concerned expire: an
//! access token is refused once its session (`sid`: a sign-in's refresh family, or a delegated
//! grant) is revoked. The list is fed from org-auth's revocation events; no database or Redis
//! call on the request path.
//!
//! The check runs on every authenticated request, so holding many revocations must cost a live
//! token (nearly) nothing. Beside the map of sessions sits a small filter (32 KiB, two bits per
//! session in one 64-bit word): a token whose bits are not both set — every live token but a
//! fraction of a percent at 10 000 held — is answered by one atomic load, with no lock and no
//! map probe, whatever the list holds. Only a token whose bits are set is looked up in the map.
use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
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

/// log2 of the filter's words: 4 096 words of 64 bits.
const WORD_BITS: u32 = 12;
const WORDS: usize = 1 << WORD_BITS;

/// The revocations a verifier holds (session → until). Cheap to clone (shared).
#[derive(Clone)]
pub struct Revoked(Arc<Inner>);

struct Inner {
    /// For each held session, two bits of one word (chosen by the session's hash). Set before
    /// the session enters the map and cleared only by [`Revoked::prune`] rebuilding it from
    /// what stays, so a held session's bits are never seen clear.
    filter: Box<[AtomicU64]>,
    held: RwLock<HashMap<u128, i64, BuildHasherDefault<SessionHasher>>>,
}

impl Default for Revoked {
    fn default() -> Self {
        Revoked(Arc::new(Inner {
            filter: (0..WORDS).map(|_| AtomicU64::new(0)).collect(),
            held: RwLock::default(),
        }))
    }
}

impl Revoked {
    /// Records `r`; a repeated or older event never shortens what is held.
    pub fn apply(&self, r: Revocation) {
        if r.until <= now() {
            return;
        }
        let key = r.session_id.as_u128();
        // Writers are rare (one per revocation event); readers never wait long.
        let mut held = self.0.held.write().unwrap_or_else(|p| p.into_inner());
        let (word, bits) = slot(key);
        self.0.filter[word].fetch_or(bits, Ordering::Release);
        let e = held.entry(key).or_insert(r.until);
        *e = (*e).max(r.until);
    }

    /// Whether `claims` belong to a revoked session.
    pub fn covers(&self, claims: &Claims) -> bool {
        let Some(sid) = claims.sid else {
            return false;
        };
        let key = sid.as_u128();
        let (word, bits) = slot(key);
        if self.0.filter[word].load(Ordering::Acquire) & bits != bits {
            return false;
        }
        let held = self.0.held.read().unwrap_or_else(|p| p.into_inner());
        held.contains_key(&key)
    }

    /// Forgets revocations whose tokens have all expired, and clears their filter bits (those
    /// no remaining session shares).
    pub fn prune(&self) {
        let now = now();
        let mut held = self.0.held.write().unwrap_or_else(|p| p.into_inner());
        let before = held.len();
        held.retain(|_, until| *until > now);
        if held.len() == before {
            return;
        }
        let mut words = vec![0u64; WORDS];
        for key in held.keys() {
            let (word, bits) = slot(*key);
            words[word] |= bits;
        }
        // Each word only loses bits no held session needs: a concurrent check of a held
        // session sees its bits set throughout.
        for (cell, word) in self.0.filter.iter().zip(words) {
            cell.store(word, Ordering::Release);
        }
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.0.held.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A session id's 64-bit hash: the halves folded and multiplied (Fibonacci hashing), so the
/// high bits depend on every bit of the id. Session ids are made by org-auth (UUIDv7: random
/// bits in both halves) and reach a verifier only inside tokens it signed or events it
/// published; no caller chooses them, so an unkeyed hash leaves nothing to flood.
fn mix(key: u128) -> u64 {
    let folded = (key as u64) ^ ((key >> 64) as u64);
    let h = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // The map takes its bucket from the low bits: fold the well-mixed high bits into them.
    h ^ (h >> 32)
}

/// The filter word (the top 12 bits of the hash) and the two bits in it (the next 6 and 6).
fn slot(key: u128) -> (usize, u64) {
    let h = mix(key);
    let word = (h >> (64 - WORD_BITS)) as usize;
    let a = (h >> (64 - WORD_BITS - 6)) & 63;
    let b = (h >> (64 - WORD_BITS - 12)) & 63;
    (word, (1u64 << a) | (1u64 << b))
}

/// The map's hasher: one [`mix`] of the `u128` key, no SipHash rounds.
#[derive(Default)]
struct SessionHasher(u64);

impl Hasher for SessionHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = mix(key);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u128` keys are hashed here; any other input is still hashed soundly.
        for chunk in bytes.chunks(16) {
            let mut buf = [0u8; 16];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix(u128::from_le_bytes(buf) ^ u128::from(self.0));
        }
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

    #[test]
    fn with_ten_thousand_held_each_is_covered_and_live_sessions_are_not() {
        let r = Revoked::default();
        let held: Vec<Uuid> = (0..10_000).map(|_| Uuid::now_v7()).collect();
        for s in &held {
            r.apply(Revocation {
                session_id: *s,
                until: now() + 60,
            });
        }
        assert!(held.iter().all(|s| r.covers(&claims(Some(*s)))));
        let live: Vec<Uuid> = (0..10_000).map(|_| Uuid::now_v7()).collect();
        assert!(live.iter().all(|s| !r.covers(&claims(Some(*s)))));
        // Nearly every live token is answered by the filter alone, without the map.
        let passed = live
            .iter()
            .filter(|s| {
                let (word, bits) = slot(s.as_u128());
                r.0.filter[word].load(Ordering::Relaxed) & bits == bits
            })
            .count();
        assert!(
            passed < 200,
            "{passed} of 10 000 live sessions reached the map"
        );
    }

    #[test]
    fn pruning_forgets_the_expired_and_keeps_the_held_covered() {
        let r = Revoked::default();
        let kept: Vec<Uuid> = (0..2_000).map(|_| Uuid::now_v7()).collect();
        for s in &kept {
            r.apply(Revocation {
                session_id: *s,
                until: now() + 60,
            });
        }
        let gone = Uuid::now_v7();
        r.apply(Revocation {
            session_id: gone,
            until: now() + 60,
        });
        // Expire one directly (an event's `until` passing), then prune.
        r.0.held
            .write()
            .expect("the map lock")
            .insert(gone.as_u128(), now() - 1);
        r.prune();
        assert_eq!(r.len(), 2_000);
        assert!(!r.covers(&claims(Some(gone))));
        assert!(kept.iter().all(|s| r.covers(&claims(Some(*s)))));
        let mut want = vec![0u64; WORDS];
        for s in &kept {
            let (word, bits) = slot(s.as_u128());
            want[word] |= bits;
        }
        let have: Vec<u64> =
            r.0.filter
                .iter()
                .map(|w| w.load(Ordering::Relaxed))
                .collect();
        assert_eq!(have, want, "the filter holds the kept sessions' bits only");
    }
}
