//! Credentials: Argon2id password hashes, password strength, work-email rules, random secrets
//! and their stored digests.
use std::{collections::HashSet, sync::LazyLock};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use kit::Problem;
use sha2::{Digest, Sha256};

/// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (CPU-bound: run it off the async workers).
pub async fn hash_password(password: String) -> Result<String, Problem> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(Problem::internal)?;
        let salt = SaltString::encode_b64(&salt).map_err(Problem::internal)?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(Problem::internal)
    })
    .await
    .map_err(Problem::internal)?
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

/// Checks `password` against `hash` (or against a dummy when there is no account).
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
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
    .unwrap_or(false)
}

/// Password rules: 10–128 characters, three of lower case, upper case, digits and symbols,
/// and not the email's local part.
pub fn check_password(field: &str, password: &str, email: &str) -> Result<(), Problem> {
    let len = password.chars().count();
    if len < 10 {
        return Err(Problem::invalid(field, "must be at least 10 characters"));
    }
    if len > 128 {
        return Err(Problem::invalid(field, "must be at most 128 characters"));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return Err(Problem::invalid(
            field,
            "must mix at least three of: lower case, upper case, digits, symbols",
        ));
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if local.len() >= 4 && password.to_lowercase().contains(&local) {
        return Err(Problem::invalid(
            field,
            "must not contain your email address",
        ));
    }
    Ok(())
}

static FREE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/free_email_domains.txt")
        .lines()
        .collect()
});
static DISPOSABLE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/disposable_email_domains.txt")
        .lines()
        .collect()
});

/// Normalises and checks an email address: syntax, length; returns it lower-cased.
pub fn normalise_email(field: &str, email: &str) -> Result<String, Problem> {
    let email = email.trim().to_lowercase();
    let bad = || Problem::invalid(field, "is not a valid email address");
    if email.len() > 254 || email.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        || local.contains('@')
    {
        return Err(bad());
    }
    Ok(email)
}

/// Work email only: free-mail and disposable domains (shipped lists, `data/`) are refused,
/// including their subdomains.
pub fn require_work_email(field: &str, email: &str) -> Result<String, Problem> {
    let email = normalise_email(field, email)?;
    let domain = email.split_once('@').map(|(_, d)| d).unwrap_or_default();
    let mut d = domain;
    loop {
        if FREE.contains(d) {
            return Err(Problem::invalid(
                field,
                "use your work email address; free email providers are not accepted",
            ));
        }
        if DISPOSABLE.contains(d) {
            return Err(Problem::invalid(
                field,
                "disposable email addresses are not accepted",
            ));
        }
        match d.split_once('.') {
            Some((_, rest)) if rest.contains('.') => d = rest,
            _ => break,
        }
    }
    Ok(email)
}

/// A text field: trimmed, within bounds, no control characters.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, Problem> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(Problem::invalid(
            field,
            format!("must be at least {min} characters"),
        ));
    }
    if n > max {
        return Err(Problem::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(Problem::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

/// An optional text field.
pub fn opt_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, Problem> {
    value
        .map(|v| text(field, v, 0, max))
        .transpose()
        .map(|v| v.filter(|s| !s.is_empty()))
}

/// An http(s) URL.
pub fn opt_url(field: &str, value: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(v) = opt_text(field, value, 2048)? else {
        return Ok(None);
    };
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.len() > "https://".len()
        && !v.contains(char::is_whitespace)
        && !v.contains(['<', '>', '"']);
    if ok {
        Ok(Some(v))
    } else {
        Err(Problem::invalid(field, "must be an http(s) URL"))
    }
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

/// The stored form of a secret: SHA-256, hex. Secrets are random and long, so a fast hash is
/// right here (unlike passwords).
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_email_rules() {
        assert_eq!(
            require_work_email("email", " John@Acme.com ").expect("work"),
            "john@acme.com"
        );
        for free in [
            "a@gmail.com",
            "a@yahoo.co.uk",
            "a@outlook.com",
            "a@proton.me",
        ] {
            assert!(require_work_email("email", free).is_err(), "{free}");
        }
        assert!(require_work_email("email", "a@mailinator.com").is_err());
        assert!(require_work_email("email", "a@example.com").is_err());
        for bad in [
            "",
            "a",
            "a@b",
            "@acme.com",
            "a@@acme.com",
            "a b@acme.com",
            "a@acme..com",
            "a@acme.com\u{0}",
        ] {
            assert!(normalise_email("email", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn password_rules() {
        assert!(check_password("password", "SecurePass123!", "john@acme.com").is_ok());
        assert!(check_password("password", "short1!A", "john@acme.com").is_err());
        assert!(check_password("password", "alllowercaseletters", "john@acme.com").is_err());
        assert!(check_password("password", "John.Doe-2025xyz!", "john.doe@acme.com").is_err());
    }

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

    #[tokio::test]
    async fn hashing_round_trips() {
        let h = hash_password("SecurePass123!".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("SecurePass123!".into(), Some(h.clone())).await);
        assert!(!verify_password("SecurePass124!".into(), Some(h)).await);
        assert!(!verify_password("SecurePass123!".into(), None).await);
    }
}
