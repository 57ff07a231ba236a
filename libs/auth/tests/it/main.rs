//! Token issue and verification: every rejection the platform relies on, and the remote JWKS
//! cache with refresh on an unknown `kid`.
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use auth::{
    AuthError, Claims, JwksSource, Principal, Signer, SigningKey, Verifier, VerifierConfig,
};
use base64::Engine;
use uuid::Uuid;

const ISS: &str = "https://auth.test";
const AUD: &str = "workflow-platform";

fn signer() -> Signer {
    Signer::new(
        vec![SigningKey::generate().expect("key")],
        ISS,
        AUD,
        Duration::from_secs(900),
    )
    .expect("signer")
}

fn verifier_for(s: &Signer) -> Verifier {
    Verifier::new(VerifierConfig {
        issuer: ISS.into(),
        audience: AUD.into(),
        leeway: Duration::from_secs(5),
        source: JwksSource::Static(s.jwks()),
    })
    .expect("verifier")
}

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

fn claims() -> Claims {
    Claims::client(Uuid::new_v4(), Some(Uuid::new_v4()), "admin")
}

#[test]
fn a_valid_token_round_trips() {
    let s = signer();
    let v = verifier_for(&s);
    let c = claims();
    let token = s.issue(c.clone()).expect("issue");
    let got = v.verify_now(&token).expect("valid");
    assert_eq!(got.user_id, c.user_id);
    assert_eq!(got.organization_id, c.organization_id);
    assert_eq!(got.iss, ISS);
    assert!(got.exp > got.iat);
    // The header names the key.
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], s.active_kid());
}

#[test]
fn alg_none_is_rejected() {
    let s = signer();
    let v = verifier_for(&s);
    let token = s.issue(claims()).expect("issue");
    let payload = token.split('.').nth(1).expect("payload");
    let header =
        b64(format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, s.active_kid()).as_bytes());
    for forged in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert!(
            v.verify_now(&forged).is_err(),
            "alg none must not pass: {forged}"
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    // The classic confusion attack: HMAC over the token with the RSA public key as secret.
    let s = signer();
    let v = verifier_for(&s);
    let jwk = serde_json::to_vec(&s.jwks().keys[0]).expect("jwk");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(s.active_kid().to_string());
    let mut c = claims();
    c.iss = ISS.into();
    c.aud = AUD.into();
    c.exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let forged = jsonwebtoken::encode(&header, &c, &jsonwebtoken::EncodingKey::from_secret(&jwk))
        .expect("encode");
    assert!(matches!(
        v.verify_now(&forged),
        Err(AuthError::Algorithm(_))
    ));
}

fn signed_at(s: &Signer, f: impl FnOnce(&mut Claims)) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut c = claims();
    c.iss = ISS.into();
    c.aud = AUD.into();
    c.iat = now;
    c.nbf = now;
    c.exp = now + 600;
    c.jti = Uuid::new_v4().to_string();
    f(&mut c);
    s.sign(&c).expect("sign")
}

#[test]
fn time_and_audience_rules_are_enforced() {
    let s = signer();
    let v = verifier_for(&s);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let cases: Vec<(&str, String)> = vec![
        ("expired", signed_at(&s, |c| c.exp = now - 120)),
        ("not yet valid", signed_at(&s, |c| c.nbf = now + 300)),
        (
            "wrong issuer",
            signed_at(&s, |c| c.iss = "https://evil".into()),
        ),
        (
            "wrong audience",
            signed_at(&s, |c| c.aud = "another-app".into()),
        ),
    ];
    for (why, token) in cases {
        match v.verify_now(&token) {
            Err(AuthError::Invalid(reason)) => assert_eq!(reason, why),
            other => panic!("{why}: expected rejection, got {other:?}"),
        }
    }
    // Within the leeway is accepted (clock skew between replicas).
    assert!(v.verify_now(&signed_at(&s, |c| c.exp = now - 2)).is_ok());
}

#[test]
fn unknown_kid_missing_kid_and_foreign_keys_are_rejected() {
    let s = signer();
    let v = verifier_for(&s);
    let other = signer();
    assert!(matches!(
        v.verify_now(&other.issue(claims()).expect("t")),
        Err(AuthError::UnknownKid)
    ));
    let token = s.issue(claims()).expect("t");
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[0] = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
    assert!(matches!(
        v.verify_now(&parts.join(".")),
        Err(AuthError::NoKid)
    ));
}

#[test]
fn tampered_payloads_and_garbage_are_rejected() {
    let s = signer();
    let v = verifier_for(&s);
    let token = s.issue(claims()).expect("t");
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("b64"),
    )
    .expect("json");
    payload["role"] = "platform_admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&payload).expect("j")),
        parts[2]
    );
    match v.verify_now(&tampered) {
        Err(AuthError::Invalid(r)) => assert_eq!(r, "bad signature"),
        other => panic!("tampered payload accepted: {other:?}"),
    }
    for junk in ["", "a.b", "a.b.c", "....", "\u{0}", &"x".repeat(10_000)] {
        assert!(v.verify_now(junk).is_err(), "{junk:?}");
    }
}

#[test]
fn agent_headers_are_trusted_only_when_attested_for_the_tokens_own_agent() {
    let (user, agent) = (Uuid::new_v4(), Uuid::new_v4());
    let mut c = Claims::agent(user, agent, &["sales_agent"]);
    c.permissions.insert("research".into(), vec!["read".into()]);
    let granted = Some(r#"{"assisted_signup":["create"]}"#.to_string());

    // Nothing attested (no or a wrong edge signature): the token's own permissions stand.
    let p = Principal::from_claims(c.clone(), None);
    assert!(!p.has_permission("assisted_signup", "create"));
    assert!(p.has_permission("research", "read"));

    // Attested for another agent id: ignored.
    let other = auth::Attested {
        agent_id: Some(Uuid::new_v4().to_string()),
        permissions: granted.clone(),
        forwarded_for: None,
    };
    let p = Principal::from_claims(c.clone(), Some(&other));
    assert!(!p.has_permission("assisted_signup", "create"));

    // The edge's headers for this agent: current permissions from human-agent win.
    let own = auth::Attested {
        agent_id: Some(agent.to_string()),
        permissions: granted,
        forwarded_for: None,
    };
    let p = Principal::from_claims(c.clone(), Some(&own));
    assert!(p.has_permission("assisted_signup", "create"));
    assert!(p.require_permission("demo", "approve").is_err());

    // A client can never gain agent permissions from headers.
    let client = Principal::from_claims(claims(), Some(&own));
    assert!(!client.has_permission("assisted_signup", "create"));
    assert!(client.agent.is_none());
}

#[test]
fn keys_load_from_pem_with_a_stable_thumbprint_kid() {
    let pem = SigningKey::generate_pem().expect("pem");
    let a = SigningKey::from_pem(pem.as_bytes(), None).expect("a");
    let b = SigningKey::from_pem(pem.as_bytes(), None).expect("b");
    assert_eq!(a.kid(), b.kid());
    assert_eq!(
        SigningKey::from_pem(pem.as_bytes(), Some("k1".into()))
            .expect("c")
            .kid(),
        "k1"
    );
    assert!(SigningKey::from_pem(b"not a key", None).is_err());
    // The JWKS holds public parts only.
    let jwk = serde_json::to_value(a.jwk()).expect("jwk");
    assert!(jwk.get("d").is_none() && jwk.get("p").is_none());
    assert_eq!(jwk["kty"], "RSA");
}

#[tokio::test]
async fn remote_jwks_is_cached_and_refreshed_on_an_unknown_kid() -> anyhow::Result<()> {
    // A JWKS endpoint that starts with key 1 and, after rotation, serves keys 2 and 1.
    let k1 = SigningKey::generate()?;
    let k2 = SigningKey::generate()?;
    let s1 = Signer::new(vec![k1.clone()], ISS, AUD, Duration::from_secs(600))?;
    let s2 = Signer::new(vec![k2, k1], ISS, AUD, Duration::from_secs(600))?;
    let current = Arc::new(std::sync::Mutex::new(s1.jwks()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (cur, n) = (current.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let (cur, n) = (cur.clone(), n.clone());
            async move {
                n.fetch_add(1, Ordering::SeqCst);
                axum::Json(cur.lock().expect("lock").clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let v = Verifier::new(VerifierConfig {
        issuer: ISS.into(),
        audience: AUD.into(),
        leeway: Duration::from_secs(5),
        source: JwksSource::Remote {
            url: format!("http://{addr}/.well-known/jwks.json"),
            min_refresh: Duration::from_millis(200),
        },
    })?;

    let t1 = s1.issue(claims())?;
    v.verify(&t1).await?;
    v.verify(&t1).await?;
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "known keys are served from the cache"
    );

    // Rotation: a token signed by the new key triggers one refetch.
    *current.lock().expect("lock") = s2.jwks();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let t2 = s2.issue(claims())?;
    v.verify(&t2).await?;
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    v.verify(&t1).await?; // the retired key still verifies its tokens

    // A flood of unknown kids cannot hammer the issuer: one fetch per interval.
    let stranger = signer();
    for _ in 0..20 {
        assert!(v.verify(&stranger.issue(claims())?).await.is_err());
    }
    assert!(fetches.load(Ordering::SeqCst) <= 3);
    Ok(())
}
