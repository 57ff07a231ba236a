//! Credentials: Argon2id password hashes, random secrets (tokens, codes) and their stored
//! digests. The rules a password or an address must follow are in `rules`.
use std::{
    sync::{Arc, LazyLock, OnceLock},
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use kit::Problem;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::problems;

/// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// How many Argon2id computations may run at once (each holds 19 MiB while it runs) and how
/// long a request waits for its turn before it is answered 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashBound {
    pub permits: usize,
    pub wait: Duration,
}

impl HashBound {
    /// What applies until the service's settings say otherwise (operator tools, benchmarks).
    pub const DEFAULT: HashBound = HashBound {
        permits: 4,
        wait: Duration::from_secs(2),
    };
}

/// What a request refused for want of a turn is told to wait, in seconds.
const BUSY_RETRY_SECS: u64 = 1;

/// Turns at the hasher: a computation runs on the blocking pool only while it holds one.
struct Hashing {
    turns: Arc<Semaphore>,
    wait: Duration,
}

impl Hashing {
    fn new(bound: HashBound) -> Self {
        Hashing {
            turns: Arc::new(Semaphore::new(bound.permits.max(1))),
            wait: bound.wait,
        }
    }

    /// Runs `work` off the async workers once a turn is free; 503 with `Retry-After` when none
    /// frees within the wait.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Problem> {
        let turn = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| {
                problems::BUSY
                    .with("too many sign-ins at once; retry in a moment")
                    .with_retry_after(BUSY_RETRY_SECS)
            })?
            .map_err(Problem::internal)?;
        tokio::task::spawn_blocking(move || {
            // The turn travels with the computation: a caller that gives up (a dropped
            // request) does not free it while the memory is still in use.
            let _turn = turn;
            work()
        })
        .await
        .map_err(Problem::internal)
    }
}

/// One bound per process, not per service instance: the memory it protects is the process's.
static HASHING: OnceLock<Hashing> = OnceLock::new();

fn hashing() -> &'static Hashing {
    HASHING.get_or_init(|| Hashing::new(HashBound::DEFAULT))
}

/// Sets the process's hashing bound from the settings; the first call wins (hashes already
/// running hold turns of it).
pub fn bound_hashing(bound: HashBound) {
    if HASHING.set(Hashing::new(bound)).is_err() {
        tracing::debug!("the hashing bound is already set for this process");
    }
}

/// Hashes a password (CPU-bound and 19 MiB: within the hashing bound, off the async workers).
pub async fn hash_password(password: String) -> Result<String, Problem> {
    hashing().run(move || hash_now(&password)).await?
}

fn hash_now(password: &str) -> Result<String, Problem> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(Problem::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(Problem::internal)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(Problem::internal)
}

/// A hash of a random password, verified against when the account does not exist so that a
/// missing account costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(b"fleet-dummy-salt")
        .unwrap_or_else(|_| SaltString::from_b64("AAAAAAAAAAAAAAAAAAAAAA").expect("static salt"));
    argon2()
        .hash_password(random_token(24).as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Whether `password` matches `hash` (checked against a dummy when there is no account, at the
/// same cost); 503 with `Retry-After` when the hashing bound has no turn free in time.
pub async fn check_password(password: String, hash: Option<String>) -> Result<bool, Problem> {
    hashing()
        .run(move || {
            let real = hash.is_some();
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
            let ok = PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false);
            ok && real
        })
        .await
}

/// `n` random bytes, URL-safe base64 (no padding): `random_token(32)` carries 256 bits.
pub fn random_token(n: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; n];
    // The OS RNG failing is not recoverable; an all-zero secret must never be issued.
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf)
}

/// A verification code: 6 capital letters and digits (like `ABC123`), uniformly drawn.
pub fn verification_code() -> String {
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(6);
    while out.len() < 6 {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).expect("the operating system's random generator failed");
        // Rejection sampling keeps every character equally likely (252 = 7 × 36).
        for x in b {
            if x < 252 && out.len() < 6 {
                out.push(SET[usize::from(x) % 36] as char);
            }
        }
    }
    out
}

/// An assisted account's claim token, `CLAIM-XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX`: 160 random
/// bits in Crockford base32 (no ambiguous letters), grouped for reading aloud.
pub fn claim_token() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    let mut bits = 0u64;
    let mut n = 0;
    let mut chars = String::with_capacity(32);
    for b in bytes {
        bits = (bits << 8) | u64::from(b);
        n += 8;
        while n >= 5 {
            n -= 5;
            chars.push(ALPHABET[((bits >> n) & 31) as usize] as char);
        }
    }
    let groups: Vec<&str> = (0..4).map(|i| &chars[i * 8..i * 8 + 8]).collect();
    format!("CLAIM-{}", groups.join("-"))
}

/// The stored form of a secret: SHA-256, hex. Secrets are random and long, so a fast hash is
/// right here (unlike passwords).
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_tokens() {
        let c = verification_code();
        assert_eq!(c.len(), 6);
        assert!(
            c.chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
        );
        let t = random_token(32);
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_token(32));
        assert_eq!(digest("x").len(), 64);
    }

    #[test]
    fn claim_tokens_carry_160_bits_in_a_readable_form() {
        let t = claim_token();
        assert_eq!(t.len(), "CLAIM-".len() + 4 * 8 + 3);
        assert!(t.starts_with("CLAIM-"));
        assert!(t[6..].chars().all(|c| c == '-'
            || (c.is_ascii_alphanumeric() && !"ILOU".contains(c) && !c.is_ascii_lowercase())));
        assert_ne!(t, claim_token());
    }

    #[tokio::test]
    async fn past_the_bound_a_hash_waits_its_turn_then_is_refused_503_with_retry_after() {
        let h = Hashing::new(HashBound {
            permits: 2,
            wait: Duration::from_millis(50),
        });
        let held = [
            h.turns.clone().acquire_owned().await.expect("turn"),
            h.turns.clone().acquire_owned().await.expect("turn"),
        ];
        let refused = h.run(|| 1).await.expect_err("no turn free");
        assert_eq!(refused.status().as_u16(), 503);
        assert_eq!(refused.slug(), problems::BUSY.slug);
        assert_eq!(refused.body().retry_after, Some(BUSY_RETRY_SECS));
        drop(held);
        assert_eq!(h.run(|| 1).await.expect("a turn is free"), 1);
        // A caller that gives up does not free its turn before the work is done.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let turns = h.turns.clone();
            async move {
                let h = Hashing {
                    turns,
                    wait: Duration::from_secs(1),
                };
                h.run(move || rx.recv().ok()).await
            }
        });
        while h.turns.available_permits() == 2 {
            tokio::task::yield_now().await;
        }
        busy.abort();
        assert_eq!(
            h.turns.available_permits(),
            1,
            "still held by the running work"
        );
        tx.send(()).expect("work waiting");
        while h.turns.available_permits() < 2 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn hashing_round_trips() {
        let h = hash_password("SecurePass123!".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            check_password("SecurePass123!".into(), Some(h.clone()))
                .await
                .expect("checked")
        );
        assert!(
            !check_password("SecurePass124!".into(), Some(h))
                .await
                .expect("checked")
        );
        assert!(
            !check_password("SecurePass123!".into(), None)
                .await
                .expect("checked")
        );
    }
}
