//! The edge's signature over what it injects (ARCHITECTURE §7).
//!
//! Kong (the `agent-permissions` plugin) and `fleet gateway` add `X-Fleet-Edge-Signature`, an
//! HMAC-SHA256 with the edge key over [`canonical`]: the method, the upstream path, a digest of
//! the `Authorization` header, `X-Agent-ID`, `X-Agent-Permissions`, `X-Forwarded-For` and the
//! time of `X-Fleet-Edge-Time`. A service trusts those headers only when the signature verifies
//! (constant time) and the time is within [`MAX_SKEW_SECS`]; otherwise it ignores them: the
//! token's own permissions apply and the client address is the socket peer.
//!
//! The token is bound by the SHA-256 of the whole `Authorization` value rather than its `jti`:
//! it binds at least as tightly, and it needs no decoding on routes where the edge verified no
//! token (a login), so one rule covers every request.
use aws_lc_rs::{digest, hmac};

pub const SIGNATURE_HEADER: &str = "x-fleet-edge-signature";
pub const TIME_HEADER: &str = "x-fleet-edge-time";
pub const AGENT_ID_HEADER: &str = "x-agent-id";
pub const AGENT_PERMISSIONS_HEADER: &str = "x-agent-permissions";
pub const FORWARDED_FOR_HEADER: &str = "x-forwarded-for";
/// How far the edge's time may be from the service's.
pub const MAX_SKEW_SECS: i64 = 60;
/// The shortest edge key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;
const VERSION: &str = "fleet-edge-v1";

/// The HMAC key the edge signs with and the services verify with.
#[derive(Clone)]
pub struct EdgeKey(hmac::Key);

impl std::fmt::Debug for EdgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the edge key must be at least {MIN_KEY_LEN} bytes, got {0}")]
pub struct ShortKey(pub usize);

/// What the edge signs: the request as the upstream receives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub permissions: Option<&'a str>,
    pub forwarded_for: Option<&'a str>,
    pub time: i64,
}

/// The headers a verified signature vouches for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attested {
    pub agent_id: Option<String>,
    pub permissions: Option<String>,
    pub forwarded_for: Option<String>,
}

impl Attested {
    /// The right-most `X-Forwarded-For` entry (the one the edge appended) when it is an address.
    pub fn client_ip(&self) -> Option<std::net::IpAddr> {
        self.forwarded_for
            .as_deref()?
            .rsplit(',')
            .next()
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Lower-case hex SHA-256 of `v`, or `-` when absent.
fn digest_hex(v: Option<&str>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) => hex(digest::digest(&digest::SHA256, v.as_bytes()).as_ref()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The string the signature covers, one field per line (header values cannot hold a newline).
pub fn canonical(s: &Signed<'_>) -> String {
    format!(
        "{VERSION}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        s.method.to_ascii_uppercase(),
        s.path,
        digest_hex(s.authorization),
        s.agent_id.unwrap_or_default(),
        s.permissions.unwrap_or_default(),
        s.forwarded_for.unwrap_or_default(),
        s.time,
    )
}

impl EdgeKey {
    pub fn new(bytes: &[u8]) -> Result<Self, ShortKey> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(ShortKey(bytes.len()));
        }
        Ok(EdgeKey(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// The signature header's value: lower-case hex HMAC-SHA256 of [`canonical`].
    pub fn sign(&self, s: &Signed<'_>) -> String {
        hex(hmac::sign(&self.0, canonical(s).as_bytes()).as_ref())
    }

    /// Checks a request's edge headers at `now` (unix seconds): the attested values when the
    /// signature is valid and fresh, `None` otherwise.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        headers: &axum::http::HeaderMap,
        now: i64,
    ) -> Option<Attested> {
        let text = |name: &str| -> Result<Option<&str>, ()> {
            let mut all = headers.get_all(name).iter();
            match (all.next(), all.next()) {
                (None, _) => Ok(None),
                (Some(v), None) => v.to_str().map(Some).map_err(|_| ()),
                // Two copies of a signed header: which one was signed is unknowable.
                (Some(_), Some(_)) => Err(()),
            }
        };
        let signature = text(SIGNATURE_HEADER).ok()??;
        let time: i64 = text(TIME_HEADER).ok()??.parse().ok()?;
        if (now - time).abs() > MAX_SKEW_SECS {
            return None;
        }
        let tag = unhex(signature)?;
        let s = Signed {
            method,
            path,
            authorization: text(axum::http::header::AUTHORIZATION.as_str()).ok()?,
            agent_id: text(AGENT_ID_HEADER).ok()?,
            permissions: text(AGENT_PERMISSIONS_HEADER).ok()?,
            forwarded_for: text(FORWARDED_FOR_HEADER).ok()?,
            time,
        };
        // hmac::verify compares in constant time.
        hmac::verify(&self.0, canonical(&s).as_bytes(), &tag).ok()?;
        Some(Attested {
            agent_id: s.agent_id.map(String::from),
            permissions: s.permissions.map(String::from),
            forwarded_for: s.forwarded_for.map(String::from),
        })
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector deploy/kong/plugins/agent-permissions/spec checks the Lua plugin against: both
    /// edges sign one request identically.
    pub const VECTOR_KEY: &[u8] = b"fleet-edge-test-key-0123456789abcdef";

    fn vector() -> Signed<'static> {
        Signed {
            method: "GET",
            path: "/api/v1/agents/available",
            authorization: Some("Bearer abc.def.ghi"),
            agent_id: Some("7f1c9c4e-4a57-4d43-9f55-3f2f4b1b2a10"),
            permissions: Some(r#"{"assisted_signup":["create","read"]}"#),
            forwarded_for: Some("203.0.113.9, 10.0.0.7"),
            time: 1_767_225_600,
        }
    }

    /// Computed independently (`openssl dgst -sha256 -hmac`), and checked in the Lua spec too.
    const VECTOR_SIGNATURE: &str =
        "cc52f67308d0a4dd36b9458b14f38d478beae7557b27e9fe78f8a5e5f0527f9e";

    #[test]
    fn the_canonical_string_and_signature_match_the_kong_plugins_vector() {
        let key = EdgeKey::new(VECTOR_KEY).expect("key");
        assert_eq!(
            canonical(&vector()),
            "fleet-edge-v1\nGET\n/api/v1/agents/available\n\
             531385dc732101330cabe29a68f5f7408057d7026220ff9f37e5780140021c46\n\
             7f1c9c4e-4a57-4d43-9f55-3f2f4b1b2a10\n{\"assisted_signup\":[\"create\",\"read\"]}\n\
             203.0.113.9, 10.0.0.7\n1767225600"
        );
        assert_eq!(key.sign(&vector()), VECTOR_SIGNATURE);
    }

    fn headers(s: &Signed<'_>, signature: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        let mut put = |k: &'static str, v: Option<&str>| {
            if let Some(v) = v {
                h.insert(k, v.parse().expect("header"));
            }
        };
        put("authorization", s.authorization);
        put(AGENT_ID_HEADER, s.agent_id);
        put(AGENT_PERMISSIONS_HEADER, s.permissions);
        put(FORWARDED_FOR_HEADER, s.forwarded_for);
        put(TIME_HEADER, Some(&s.time.to_string()));
        put(SIGNATURE_HEADER, Some(signature));
        h
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_to_it_does_not() {
        let key = EdgeKey::new(VECTOR_KEY).expect("key");
        let s = vector();
        let h = headers(&s, &key.sign(&s));
        let got = key.verify("GET", s.path, &h, s.time + 59).expect("valid");
        assert_eq!(got.client_ip(), Some("10.0.0.7".parse().expect("ip")));
        assert_eq!(got.permissions.as_deref(), s.permissions);
        // Too old, another path, another method, another key.
        assert!(key.verify("GET", s.path, &h, s.time + 61).is_none());
        assert!(key.verify("GET", "/api/v1/agents", &h, s.time).is_none());
        assert!(key.verify("POST", s.path, &h, s.time).is_none());
        let other = EdgeKey::new(&[9u8; 32]).expect("key");
        assert!(other.verify("GET", s.path, &h, s.time).is_none());
        // Each signed header changed in turn.
        for (name, value) in [
            (AGENT_PERMISSIONS_HEADER, r#"{"platform_admin":["all"]}"#),
            (AGENT_ID_HEADER, "00000000-0000-0000-0000-000000000000"),
            (FORWARDED_FOR_HEADER, "198.51.100.1"),
            ("authorization", "Bearer other"),
            (TIME_HEADER, "1767225601"),
        ] {
            let mut forged = h.clone();
            forged.insert(name, value.parse().expect("header"));
            assert!(
                key.verify("GET", s.path, &forged, s.time).is_none(),
                "{name}"
            );
        }
        // A second copy of a signed header, or a malformed signature.
        let mut doubled = h.clone();
        doubled.append(
            FORWARDED_FOR_HEADER,
            "198.51.100.1".parse().expect("header"),
        );
        assert!(key.verify("GET", s.path, &doubled, s.time).is_none());
        for bad in ["", "zz", &"0".repeat(64), &"a".repeat(10_000)] {
            let mut forged = h.clone();
            forged.insert(SIGNATURE_HEADER, bad.parse().expect("header"));
            assert!(
                key.verify("GET", s.path, &forged, s.time).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(EdgeKey::new(&[7u8; 31]).is_err());
    }
}
