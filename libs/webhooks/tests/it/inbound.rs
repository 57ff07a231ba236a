//! Inbound formats. Vectors marked "published" are the provider's own (Twilio's helper-library
//! test suite); the others were computed once with Python's `hmac` module from the provider's
//! documented construction, independently of this crate.
use http::{HeaderMap, HeaderValue};
use webhooks::{
    Secret, WebhookError,
    inbound::{AdobeSign, DocuSign, HubSpot, SpecFormat, Twilio},
};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).expect("header value"));
    }
    h
}

fn secret(s: &str) -> Secret {
    Secret::new(s.as_bytes().to_vec()).expect("secret")
}

const SPEC_BODY: &[u8] = br#"{"webhook_id":"adobesign_webhook_123","event":"AGREEMENT_WORKFLOW_COMPLETED","agreement_id":"adobesign_xyz123","participant_email":"jane@workflow.com","signed_at":"2025-10-07T09:15:00Z"}"#;
const SPEC_SIG: &str = "59690ecf7d3adbd704a0ddbf72285816cb6e9d215039378187fccbddb6453d97";

fn spec() -> SpecFormat {
    SpecFormat::new([("AdobeSign".to_string(), secret("nda-adobesign-secret"))])
}

#[test]
fn the_spec_format_accepts_its_signature_over_the_raw_body() {
    let h = headers(&[("x-webhook-source", "AdobeSign"), ("x-signature", SPEC_SIG)]);
    let v = spec().verify(&h, SPEC_BODY).expect("verified");
    assert_eq!(v.source, "adobesign");
    let prefixed = format!("sha256={SPEC_SIG}");
    let h = headers(&[
        ("x-webhook-source", "adobesign"),
        ("x-signature", &prefixed),
    ]);
    assert!(spec().verify(&h, SPEC_BODY).is_ok());
}

#[test]
fn a_forged_spec_webhook_is_refused_with_a_typed_error() {
    let h = headers(&[("x-webhook-source", "AdobeSign"), ("x-signature", SPEC_SIG)]);
    let mut tampered = SPEC_BODY.to_vec();
    tampered[20] ^= 1;
    assert!(matches!(
        spec().verify(&h, &tampered),
        Err(WebhookError::BadSignature)
    ));
    let wrong = headers(&[
        ("x-webhook-source", "AdobeSign"),
        ("x-signature", &"0".repeat(64)),
    ]);
    assert!(matches!(
        spec().verify(&wrong, SPEC_BODY),
        Err(WebhookError::BadSignature)
    ));
    let junk = headers(&[
        ("x-webhook-source", "AdobeSign"),
        ("x-signature", "not hex at all"),
    ]);
    assert!(matches!(
        spec().verify(&junk, SPEC_BODY),
        Err(WebhookError::BadSignature)
    ));
    let other = headers(&[("x-webhook-source", "DocuSign"), ("x-signature", SPEC_SIG)]);
    assert!(matches!(
        spec().verify(&other, SPEC_BODY),
        Err(WebhookError::UnknownSource(_))
    ));
    let unsigned = headers(&[("x-webhook-source", "AdobeSign")]);
    assert!(matches!(
        spec().verify(&unsigned, SPEC_BODY),
        Err(WebhookError::MissingHeader(h)) if h == "X-Signature"
    ));
}

const DOCUSIGN_KEY: &str = "O0g6dD1eVk1qeW5uZ2NobUk5bWV1a1ZrOW9YY3N4c3FqNmJ0PQ=";
const DOCUSIGN_BODY: &[u8] = br#"{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/1/envelopes/93b1","retryCount":0,"configurationId":10541,"generatedDateTime":"2025-10-07T09:15:00.000Z","data":{"accountId":"1","envelopeId":"93b1a2d4-0c1e-4bd1-9f35-4d1d3a7f0e11"}}"#;
const DOCUSIGN_SIG: &str = "rnVUovG3OHMq4qiGz22MlpeoYkGJWep5IY3bBzEn+ug=";

#[test]
fn docusign_connect_signatures_verify_with_any_active_key() -> anyhow::Result<()> {
    let ds = DocuSign::new(vec![
        secret("an-old-key-being-rotated-out"),
        secret(DOCUSIGN_KEY),
    ])?;
    let h = headers(&[("x-docusign-signature-1", DOCUSIGN_SIG)]);
    assert_eq!(ds.verify(&h, DOCUSIGN_BODY)?.source, "docusign");
    // During a rotation the matching signature may be the second header.
    let h = headers(&[
        (
            "x-docusign-signature-1",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        ("x-docusign-signature-2", DOCUSIGN_SIG),
    ]);
    assert!(ds.verify(&h, DOCUSIGN_BODY).is_ok());
    Ok(())
}

#[test]
fn a_forged_docusign_notification_is_refused() -> anyhow::Result<()> {
    let ds = DocuSign::new(vec![secret(DOCUSIGN_KEY)])?;
    let h = headers(&[("x-docusign-signature-1", DOCUSIGN_SIG)]);
    assert!(matches!(
        ds.verify(&h, b"{}"),
        Err(WebhookError::BadSignature)
    ));
    assert!(matches!(
        ds.verify(&HeaderMap::new(), DOCUSIGN_BODY),
        Err(WebhookError::MissingHeader(_))
    ));
    assert!(DocuSign::new(vec![]).is_err());
    Ok(())
}

#[test]
fn adobe_sign_requests_carry_our_client_id_and_get_it_echoed() -> anyhow::Result<()> {
    let adobe = AdobeSign::new(secret("CBJCHBCAABAAx9Yk-client-id"));
    let h = headers(&[("x-adobesign-clientid", "CBJCHBCAABAAx9Yk-client-id")]);
    assert_eq!(adobe.verify(&h)?.source, "adobesign");
    let (name, value) = adobe.echo()?;
    assert_eq!(name.as_str(), "x-adobesign-clientid");
    assert_eq!(value, "CBJCHBCAABAAx9Yk-client-id");
    let forged = headers(&[("x-adobesign-clientid", "someone-else")]);
    assert!(matches!(
        adobe.verify(&forged),
        Err(WebhookError::BadSignature)
    ));
    assert!(matches!(
        adobe.verify(&HeaderMap::new()),
        Err(WebhookError::MissingHeader(_))
    ));
    Ok(())
}

const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const TWILIO_FORM: &[u8] =
    b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";

#[test]
fn twilio_signatures_match_twilios_published_vectors() -> anyhow::Result<()> {
    let tw = Twilio::new(secret("12345"));
    // Published: form parameters.
    let h = headers(&[
        ("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (
            "i-twilio-idempotency-token",
            "c8bd0d8f-6a5b-4c3a-9a2a-1f0e0e0e0e0e",
        ),
    ]);
    let v = tw.verify(TWILIO_URL, &h, TWILIO_FORM)?;
    assert_eq!(
        v.delivery_id.as_deref(),
        Some("c8bd0d8f-6a5b-4c3a-9a2a-1f0e0e0e0e0e")
    );
    // Published: the same with a port the proxy added, and signed with the default port.
    tw.verify(
        "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
        &h,
        TWILIO_FORM,
    )?;
    let h443 = headers(&[("x-twilio-signature", "kvajT1Ptam85bY51eRf/AJRuM3w=")]);
    tw.verify(TWILIO_URL, &h443, TWILIO_FORM)?;
    // Published: repeated parameters.
    let dup = headers(&[("x-twilio-signature", "IK+Dwps556ElfBT0I3Rgjkr1wJU=")]);
    tw.verify(
        TWILIO_URL,
        &dup,
        b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234",
    )?;
    // Published: a JSON body signed through bodySHA256.
    let json_url = format!(
        "{TWILIO_URL}&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    );
    let hj = headers(&[("x-twilio-signature", "a9nBmqA0ju/hNViExpshrM61xv4=")]);
    tw.verify(&json_url, &hj, br#"{"property": "value", "boolean": true}"#)?;
    Ok(())
}

#[test]
fn a_tampered_twilio_request_is_refused() {
    let tw = Twilio::new(secret("12345"));
    let h = headers(&[("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")]);
    let tampered = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=9999&From=%2B14158675309&To=%2B18005551212";
    assert!(matches!(
        tw.verify(TWILIO_URL, &h, tampered),
        Err(WebhookError::BadSignature)
    ));
    assert!(matches!(
        tw.verify(
            "https://mycompany.com/other.php?foo=1&bar=2",
            &h,
            TWILIO_FORM
        ),
        Err(WebhookError::BadSignature)
    ));
    let other_token = Twilio::new(secret("54321"));
    assert!(other_token.verify(TWILIO_URL, &h, TWILIO_FORM).is_err());
    let json_url = format!("{TWILIO_URL}&bodySHA256={}", "0".repeat(64));
    let hj = headers(&[("x-twilio-signature", "a9nBmqA0ju/hNViExpshrM61xv4=")]);
    assert!(tw.verify(&json_url, &hj, b"{}").is_err());
}

const HUBSPOT_URI: &str = "https://example.com/webhook/hubspot?state=a%3Ab";
const HUBSPOT_BODY: &[u8] = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
const HUBSPOT_TS: i64 = 1_759_828_500_000;
const HUBSPOT_SIG: &str = "xJaaem931qM6Eb+jpzb5JMildIEhNGCUGcO8V+UbKuQ=";

fn hubspot_headers() -> HeaderMap {
    headers(&[
        ("x-hubspot-signature-v3", HUBSPOT_SIG),
        ("x-hubspot-request-timestamp", &HUBSPOT_TS.to_string()),
    ])
}

#[test]
fn hubspot_v3_signatures_verify_within_five_minutes() -> anyhow::Result<()> {
    let hs = HubSpot::new(secret("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"));
    let h = hubspot_headers();
    hs.verify_at("POST", HUBSPOT_URI, &h, HUBSPOT_BODY, HUBSPOT_TS + 1_000)?;
    hs.verify_at("POST", HUBSPOT_URI, &h, HUBSPOT_BODY, HUBSPOT_TS + 299_000)?;
    Ok(())
}

#[test]
fn a_stale_or_forged_hubspot_request_is_refused() {
    let hs = HubSpot::new(secret("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"));
    let h = hubspot_headers();
    assert!(matches!(
        hs.verify_at("POST", HUBSPOT_URI, &h, HUBSPOT_BODY, HUBSPOT_TS + 301_000),
        Err(WebhookError::Stale { .. })
    ));
    assert!(matches!(
        hs.verify_at("POST", HUBSPOT_URI, &h, HUBSPOT_BODY, HUBSPOT_TS - 301_000),
        Err(WebhookError::Stale { .. })
    ));
    assert!(matches!(
        hs.verify_at("PUT", HUBSPOT_URI, &h, HUBSPOT_BODY, HUBSPOT_TS),
        Err(WebhookError::BadSignature)
    ));
    assert!(matches!(
        hs.verify_at("POST", HUBSPOT_URI, &h, b"[]", HUBSPOT_TS),
        Err(WebhookError::BadSignature)
    ));
    // The real clock: the vector's timestamp is long past.
    assert!(matches!(
        hs.verify("POST", HUBSPOT_URI, &h, HUBSPOT_BODY),
        Err(WebhookError::Stale { .. })
    ));
}

#[test]
fn refusals_become_401_and_replays_409() {
    let p: problem::Problem = WebhookError::BadSignature.into();
    assert_eq!(p.status().as_u16(), 401);
    let p: problem::Problem = WebhookError::Replayed { id: "x".into() }.into();
    assert_eq!(p.status().as_u16(), 409);
}
