//! Organisations: their settings and branding, and their slugs.
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::{PartialSchema, ToSchema, openapi};
use uuid::Uuid;

use super::{OptUrl, Role, entries};

/// An organisation's settings: `mfa_required` (bool), `default_member_role` (a role),
/// `timezone` and `locale` (text, ≤ 64 bytes); nothing else.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgSettings(Map<String, Value>);

impl OrgSettings {
    fn entry(key: &str, value: Value) -> Result<Value, String> {
        match (key, &value) {
            ("mfa_required", Value::Bool(_)) => Ok(value),
            ("default_member_role", Value::String(r)) => r.parse::<Role>().map(|_| value),
            ("timezone" | "locale", Value::String(s)) if s.len() <= 64 => Ok(value),
            _ => Err("unknown setting or wrong type".into()),
        }
    }
}

impl<'de> Deserialize<'de> for OrgSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        entries(d, "must be an object", OrgSettings::entry)
            .map(|e| OrgSettings(e.into_iter().collect()))
    }
}

/// An organisation's branding: `logo_url` (an http(s) URL), `primary_color`,
/// `secondary_color`, `accent_color` (`#rrggbb`); nothing else.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branding(Map<String, Value>);

impl Branding {
    fn entry(key: &str, value: Value) -> Result<Value, String> {
        let s = value
            .as_str()
            .ok_or_else(|| "must be a string".to_string())?;
        match key {
            "primary_color" | "secondary_color" | "accent_color" => {
                let ok = s.len() == 7
                    && s.starts_with('#')
                    && s[1..].chars().all(|c| c.is_ascii_hexdigit());
                if !ok {
                    return Err("must be a #rrggbb colour".into());
                }
            }
            "logo_url" => {
                OptUrl::parse(Some(s))?;
            }
            _ => return Err("unknown branding field".into()),
        }
        Ok(value)
    }
}

impl<'de> Deserialize<'de> for Branding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        entries(d, "must be an object", Branding::entry).map(|e| Branding(e.into_iter().collect()))
    }
}

macro_rules! object_schema {
    ($($ty:ty),+) => {$(
        impl PartialSchema for $ty {
            fn schema() -> openapi::RefOr<openapi::schema::Schema> {
                openapi::ObjectBuilder::new()
                    .schema_type(openapi::schema::Type::Object)
                    .into()
            }
        }
        impl ToSchema for $ty {}
    )+};
}
object_schema!(OrgSettings, Branding);

/// `acme corp!` → `acme-corp` (at most 50 characters); a name with too few letters or digits
/// gets `org-` and 8 random hex digits.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(50).collect();
    if slug.len() < 2 {
        format!("org-{}", &Uuid::new_v4().simple().to_string()[..8])
    } else {
        slug
    }
}

/// The first of `base`, `base-2`, `base-3`, … not in `taken`.
pub fn first_free_slug(base: &str, taken: &[String]) -> String {
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|c| !taken.contains(c))
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal<T: for<'de> Deserialize<'de> + std::fmt::Debug>(v: Value) -> String {
        serde_json::from_value::<T>(v)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn settings_and_branding() {
        let s: OrgSettings = serde_json::from_value(serde_json::json!(
            {"mfa_required": true, "default_member_role": "viewer", "timezone": "Europe/Berlin"}
        ))
        .expect("valid");
        assert_eq!(s.0.len(), 3);
        assert_eq!(
            refusal::<OrgSettings>(serde_json::json!({"default_member_role": "boss"})),
            "must be one of admin, member, viewer"
        );
        for bad in [
            serde_json::json!({"unknown": 1}),
            serde_json::json!({"mfa_required": "yes"}),
            serde_json::json!({"locale": "x".repeat(65)}),
        ] {
            assert_eq!(refusal::<OrgSettings>(bad), "unknown setting or wrong type");
        }
        assert_eq!(refusal::<OrgSettings>("x".into()), "must be an object");
        let b: Branding = serde_json::from_value(serde_json::json!(
            {"primary_color": "#a1B2c3", "logo_url": " "}
        ))
        .expect("valid");
        assert_eq!(b.0["logo_url"], " ", "kept as given");
        assert_eq!(
            refusal::<Branding>(serde_json::json!({"primary_color": "red"})),
            "must be a #rrggbb colour"
        );
        assert_eq!(
            refusal::<Branding>(serde_json::json!({"font": 5})),
            "must be a string"
        );
        assert_eq!(
            refusal::<Branding>(serde_json::json!({"font": "Arial"})),
            "unknown branding field"
        );
        assert_eq!(
            refusal::<Branding>(serde_json::json!({"logo_url": "ftp://x"})),
            "must be an http(s) URL"
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp!"), "acme-corp");
        assert_eq!(slugify("Ünïcode Straße & Co!"), "n-code-stra-e-co");
        assert!(slugify("!!").starts_with("org-"));
        assert_eq!(slugify(&"a".repeat(80)).len(), 50);
        let taken = vec!["acme".to_string(), "acme-2".to_string()];
        assert_eq!(first_free_slug("acme", &taken), "acme-3");
        assert_eq!(first_free_slug("beta", &taken), "beta");
    }
}
