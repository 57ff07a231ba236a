//! Secrets: from a file or the environment; a missing one outside development stops start-up.
use std::collections::HashMap;

use http::{HeaderMap, HeaderValue};
use webhooks::{Secret, WebhookError, inbound::SpecFormat};

fn lookup(map: HashMap<&'static str, String>) -> impl Fn(&str) -> Option<String> {
    move |k| map.get(k).cloned()
}

#[test]
fn a_missing_secret_outside_development_is_a_start_up_error() {
    let r = SpecFormat::from_lookup(
        "NDA_WEBHOOK_SECRET",
        &["AdobeSign"],
        lookup(HashMap::new()),
        false,
    );
    assert!(matches!(
        r,
        Err(WebhookError::MissingSecret { name }) if name == "NDA_WEBHOOK_SECRET_ADOBESIGN"
    ));
}

#[test]
fn a_secret_is_read_from_its_file_first() -> anyhow::Result<()> {
    let path = std::env::temp_dir().join(testkit::unique("webhook-secret"));
    std::fs::write(&path, "from-the-file\n")?;
    let env = HashMap::from([
        ("TWILIO_AUTH_TOKEN_FILE", path.display().to_string()),
        ("TWILIO_AUTH_TOKEN", "from-the-env".to_string()),
    ]);
    let s = Secret::load("TWILIO_AUTH_TOKEN", lookup(env), false)?;
    assert_eq!(s.expose(), b"from-the-file");
    assert_eq!(format!("{s:?}"), "Secret(…)");
    std::fs::remove_file(path)?;
    let missing_file = HashMap::from([("X_FILE", "/nonexistent/secret".to_string())]);
    assert!(matches!(
        Secret::load("X", lookup(missing_file), true),
        Err(WebhookError::Config(_))
    ));
    Ok(())
}

#[test]
fn development_without_a_secret_keeps_the_check_on() -> anyhow::Result<()> {
    let spec = SpecFormat::from_lookup(
        "NDA_WEBHOOK_SECRET",
        &["AdobeSign"],
        lookup(HashMap::new()),
        true,
    )?;
    let mut h = HeaderMap::new();
    h.insert("x-webhook-source", HeaderValue::from_static("AdobeSign"));
    // Whatever the sender signed with, the per-process random secret does not accept it.
    h.insert(
        "x-signature",
        HeaderValue::from_static(
            "e5d1e4b2d4f63ad6d2ab1bb1d1e34e6e0b1b0b1bb1b0b1b0b1b0b1b0b1b0b1b0",
        ),
    );
    assert!(matches!(
        spec.verify(&h, b"{}"),
        Err(WebhookError::BadSignature)
    ));
    Ok(())
}
