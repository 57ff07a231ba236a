//! Typed input: validating newtypes a request type declares its fields with, so a handler
//! receives valid values and an invalid one is refused (422) naming the field — through serde
//! (`try_from`), by the kit's `Json` and `Query` extractors, before the handler runs.
//!
//! ```ignore
//! #[derive(Deserialize, ToSchema)]
//! struct CreateThing {
//!     name: Text<2, 100>,           // trimmed, 2–100 characters, no control characters
//!     #[serde(default)]
//!     notes: OptText<1000>,         // absent, null or blank → None
//!     contact: Email,               // normalised to lower case
//!     #[serde(default)]
//!     website: Option<HttpUrl>,
//! }
//! ```
//!
//! Longer than most modules: one file holds the whole vocabulary of input types, so a service
//! author finds every validated type in one place; about a sixth is its unit tests.
use std::{borrow::Cow, fmt, ops::Deref};

use axum::extract::{FromRequestParts, rejection::QueryRejection};
use problem::Problem;
use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};
use utoipa::openapi::{
    KnownFormat, ObjectBuilder, RefOr, SchemaFormat,
    schema::{Schema, Type},
};

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// Implements the common parts of a string newtype: deref to `str`, display, serialise as the
/// string, deserialise through `parse`, and its OpenAPI schema.
macro_rules! string_input {
    ($ty:ident $(<$(const $p:ident: $pt:ty),*>)?, $schema:expr) => {
        string_input!($ty $(<$(const $p: $pt),*>)?, $schema, Cow::Borrowed(stringify!($ty)));
    };
    ($ty:ident $(<$(const $p:ident: $pt:ty),*>)?, $schema:expr, $name:expr) => {
        impl$(<$(const $p: $pt),*>)? Deref for $ty$(<$($p),*>)? {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl$(<$(const $p: $pt),*>)? AsRef<str> for $ty$(<$($p),*>)? {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl$(<$(const $p: $pt),*>)? fmt::Display for $ty$(<$($p),*>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl$(<$(const $p: $pt),*>)? From<$ty$(<$($p),*>)?> for String {
            fn from(v: $ty$(<$($p),*>)?) -> String {
                v.0
            }
        }
        impl$(<$(const $p: $pt),*>)? Serialize for $ty$(<$($p),*>)? {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de $($(, const $p: $pt)*)?> Deserialize<'de> for $ty$(<$($p),*>)? {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
        impl$(<$(const $p: $pt),*>)? utoipa::PartialSchema for $ty$(<$($p),*>)? {
            fn schema() -> RefOr<Schema> {
                #[allow(clippy::redundant_closure_call)]
                ($schema)().into()
            }
        }
        impl$(<$(const $p: $pt),*>)? utoipa::ToSchema for $ty$(<$($p),*>)? {
            fn name() -> Cow<'static, str> {
                $name
            }
        }
        impl$(<$(const $p: $pt),*>)? $ty$(<$($p),*>)? {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

/// Checks free text: trimmed, `min..=max` characters, no control characters.
pub fn check_text(value: &str, min: usize, max: usize) -> Result<String, String> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(format!("must be at least {min} characters"));
    }
    if n > max {
        return Err(format!("must be at most {max} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(v.to_string())
}

/// Free text, trimmed, `MIN..=MAX` characters, without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_text(raw, MIN, MAX).map(Text)
    }
}

string_input!(
    Text<const MIN: usize, const MAX: usize>,
    || string_schema().min_length(Some(MIN)).max_length(Some(MAX)),
    Self::schema_name()
);

// Each bound is its own schema: one shared component name would let one field's bounds
// overwrite another's in the OpenAPI document.
impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("Text_{MIN}_{MAX}"))
    }
}

/// Optional free text of at most `MAX` characters: absent, `null` or blank is `None`. Declare
/// the field `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OptText<const MAX: usize>(Option<String>);

impl<const MAX: usize> OptText<MAX> {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw {
            None => Ok(OptText(None)),
            Some(v) => check_text(v, 0, MAX).map(|s| OptText(Some(s).filter(|s| !s.is_empty()))),
        }
    }
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
    pub fn into_option(self) -> Option<String> {
        self.0
    }
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<const MAX: usize> From<OptText<MAX>> for Option<String> {
    fn from(v: OptText<MAX>) -> Self {
        v.0
    }
}

impl<const MAX: usize> Serialize for OptText<MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for OptText<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        Self::parse(raw.as_deref()).map_err(serde::de::Error::custom)
    }
}

impl<const MAX: usize> utoipa::PartialSchema for OptText<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .max_length(Some(MAX))
            .into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for OptText<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("OptText_{MAX}"))
    }
}

/// Checks and normalises an email address (syntax and lengths); lower-cased.
pub fn check_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let bad = || "is not a valid email address".to_string();
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

/// An email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_email(raw).map(Email)
    }
    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map(|(_, d)| d).unwrap_or_default()
    }
    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map(|(l, _)| l).unwrap_or_default()
    }
}

string_input!(Email, || string_schema()
    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
    .max_length(Some(254)));

fn check_url(raw: &str, https_only: bool) -> Result<String, String> {
    let v = check_text(raw, 1, 2048)?;
    let scheme_ok = v.starts_with("https://") || (!https_only && v.starts_with("http://"));
    let ok = scheme_ok
        && v.len() > "https://".len()
        && !v.contains(char::is_whitespace)
        && !v.contains(['<', '>', '"']);
    if ok {
        Ok(v)
    } else if https_only {
        Err("must be an https URL".into())
    } else {
        Err("must be an http(s) URL".into())
    }
}

/// An `http://` or `https://` URL of at most 2 048 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_url(raw, false).map(HttpUrl)
    }
}

string_input!(HttpUrl, || string_schema()
    .format(Some(SchemaFormat::Custom("uri".into())))
    .max_length(Some(2048)));

/// An `https://` URL of at most 2 048 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpsUrl(String);

impl HttpsUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_url(raw, true).map(HttpsUrl)
    }
}

string_input!(HttpsUrl, || string_schema()
    .format(Some(SchemaFormat::Custom("uri".into())))
    .pattern(Some("^https://"))
    .max_length(Some(2048)));

/// A URL path segment: 2–63 characters of lower-case letters, digits and inner hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let v = raw.trim();
        let ok = (2..=63).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !v.starts_with('-')
            && !v.ends_with('-')
            && !v.contains("--");
        if ok {
            Ok(Slug(v.to_string()))
        } else {
            Err("must be 2–63 lower-case letters, digits and single inner hyphens".into())
        }
    }
}

string_input!(Slug, || string_schema()
    .pattern(Some("^[a-z0-9]+(-[a-z0-9]+)*$"))
    .min_length(Some(2))
    .max_length(Some(63)));

/// A phone number in E.164 form (`+14155550123`); spaces, dots, hyphens and parentheses are
/// removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let v: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = v.strip_prefix('+').unwrap_or("");
        if (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
        {
            Ok(Phone(v))
        } else {
            Err("must be a phone number in international form, e.g. +14155550123".into())
        }
    }
}

string_input!(Phone, || string_schema()
    .pattern(Some(r"^\+[1-9][0-9]{7,14}$")));

/// An ISO 3166-1 alpha-2 country code (`US`, `DE`), upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let v = raw.trim().to_ascii_uppercase();
        if v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CountryCode(v))
        } else {
            Err("must be a two-letter ISO 3166 country code".into())
        }
    }
}

string_input!(CountryCode, || string_schema().pattern(Some("^[A-Z]{2}$")));

/// An ISO 4217 currency code (`USD`, `EUR`), upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let v = raw.trim().to_ascii_uppercase();
        if v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CurrencyCode(v))
        } else {
            Err("must be a three-letter ISO 4217 currency code".into())
        }
    }
}

string_input!(CurrencyCode, || string_schema().pattern(Some("^[A-Z]{3}$")));

/// A number from a query string or JSON (`"20"` or `20`).
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(u64),
        S(String),
    }
    match Num::deserialize(d)? {
        Num::N(n) => Ok(n),
        Num::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("must be a whole number")),
    }
}

/// A page size, `1..=MAX`, `DEFAULT` when absent: `#[serde(default)] limit: Limit<50, 100>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<const DEFAULT: u32, const MAX: u32>(u32);

impl<const DEFAULT: u32, const MAX: u32> Limit<DEFAULT, MAX> {
    pub fn get(self) -> u32 {
        self.0
    }
    pub fn as_i64(self) -> i64 {
        i64::from(self.0)
    }
}

impl<const DEFAULT: u32, const MAX: u32> Default for Limit<DEFAULT, MAX> {
    fn default() -> Self {
        Limit(DEFAULT)
    }
}

impl<'de, const DEFAULT: u32, const MAX: u32> Deserialize<'de> for Limit<DEFAULT, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = number(d)?;
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX).contains(n))
            .map(Limit)
            .ok_or_else(|| serde::de::Error::custom(format!("must be 1 to {MAX}")))
    }
}

impl<const DEFAULT: u32, const MAX: u32> Serialize for Limit<DEFAULT, MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<const DEFAULT: u32, const MAX: u32> utoipa::PartialSchema for Limit<DEFAULT, MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX))
            .default(Some(DEFAULT.into()))
            .into()
    }
}

impl<const DEFAULT: u32, const MAX: u32> utoipa::ToSchema for Limit<DEFAULT, MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Limit_{DEFAULT}_{MAX}"))
    }
}

/// A 1-based page number, 1 when absent: `#[serde(default)] page: PageNo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNo(u32);

impl PageNo {
    pub fn get(self) -> u32 {
        self.0
    }
    /// Rows to skip for pages of `limit`.
    pub fn offset(self, limit: u32) -> i64 {
        i64::from(self.0 - 1) * i64::from(limit)
    }
}

impl Default for PageNo {
    fn default() -> Self {
        PageNo(1)
    }
}

impl<'de> Deserialize<'de> for PageNo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = number(d)?;
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .map(PageNo)
            .ok_or_else(|| serde::de::Error::custom("must be 1 or more"))
    }
}

impl Serialize for PageNo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl utoipa::PartialSchema for PageNo {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .default(Some(1.into()))
            .into()
    }
}

impl utoipa::ToSchema for PageNo {}

/// Rows a listing skips, `0..=100_000_000`, 0 when absent: `#[serde(default)] offset: Offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offset(u32);

impl Offset {
    pub const MAX: u32 = 100_000_000;

    pub fn get(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = number(d)?;
        u32::try_from(n)
            .ok()
            .filter(|n| *n <= Offset::MAX)
            .map(Offset)
            .ok_or_else(|| serde::de::Error::custom(format!("must be 0 to {}", Offset::MAX)))
    }
}

impl Serialize for Offset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl utoipa::PartialSchema for Offset {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(Offset::MAX))
            .default(Some(0.into()))
            .into()
    }
}

impl utoipa::ToSchema for Offset {}

/// `Query<T>` whose rejections name the field: 422 for a value that does not match `T`
/// (`limit: must be 1 to 100`), like the kit's `Json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => match parts.uri.query().and_then(nul_parameter) {
                // As for JSON bodies: PostgreSQL's text holds no NUL, so a parameter carrying
                // one (`%00`) is refused here rather than failing at the database.
                Some(field) => Err(Problem::invalid(
                    field,
                    "must not contain a NUL character (%00)",
                )),
                None => Ok(Query(v)),
            },
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let msg = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.body_text());
                Err(crate::http::invalid_from_serde(&msg))
            }
            Err(other) => Err(Problem::bad_request(other.body_text())),
        }
    }
}

/// The name of the first query parameter whose name or value holds `%00`.
fn nul_parameter(query: &str) -> Option<String> {
    query
        .split('&')
        .find(|pair| pair.contains("%00"))
        .map(|pair| {
            let name = pair
                .split('=')
                .next()
                .unwrap_or_default()
                .replace("%00", "");
            if name.is_empty() {
                "query".to_string()
            } else {
                name
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_in_a_query_parameter_is_named() {
        assert_eq!(nul_parameter("a=1&status=x%00y").as_deref(), Some("status"));
        assert_eq!(nul_parameter("li%00mit=1").as_deref(), Some("limit"));
        assert_eq!(nul_parameter("%00=1").as_deref(), Some("query"));
        assert_eq!(nul_parameter("a=%2500"), None);
        assert_eq!(nul_parameter("a=1"), None);
    }

    #[derive(Debug, Deserialize)]
    struct Req {
        name: Text<2, 10>,
        #[serde(default)]
        notes: OptText<5>,
        email: Email,
        #[serde(default)]
        site: Option<HttpUrl>,
        #[serde(default)]
        limit: Limit<20, 100>,
    }

    #[test]
    fn valid_values_are_normalised() {
        let r: Req = serde_json::from_value(serde_json::json!({
            "name": "  Acme ", "notes": "   ", "email": " John@Acme.COM ", "limit": "30"
        }))
        .expect("valid");
        assert_eq!(r.name.as_str(), "Acme");
        assert!(r.notes.is_none(), "blank text is none");
        assert_eq!(r.email.as_str(), "john@acme.com");
        assert_eq!(r.email.domain(), "acme.com");
        assert!(r.site.is_none());
        assert_eq!(r.limit.get(), 30);
    }

    #[test]
    fn invalid_values_name_the_rule() {
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<Req>(v)
                .expect_err("invalid")
                .to_string()
        };
        let base = serde_json::json!({"name": "Acme", "email": "a@acme.com"});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert!(bad(with("name", "A".into())).contains("at least 2"));
        assert!(bad(with("name", "A\u{7}bc".into())).contains("control"));
        assert!(bad(with("notes", "toolong".into())).contains("at most 5"));
        assert!(bad(with("email", "a@b".into())).contains("valid email"));
        assert!(bad(with("site", "ftp://x.y".into())).contains("http(s) URL"));
        assert!(bad(with("limit", 0.into())).contains("1 to 100"));
        assert!(bad(with("limit", "x".into())).contains("whole number"));
    }

    #[test]
    fn each_bound_is_its_own_schema() {
        use utoipa::ToSchema;
        assert_ne!(Text::<1, 100>::name(), Text::<2, 100>::name());
        assert_ne!(OptText::<10>::name(), OptText::<20>::name());
        assert_eq!(Email::name(), "Email");
    }

    #[test]
    fn codes_and_phones() {
        assert_eq!(
            Phone::parse("+1 (415) 555-0123").expect("phone").as_str(),
            "+14155550123"
        );
        assert!(Phone::parse("0123").is_err());
        assert_eq!(CountryCode::parse("de").expect("country").as_str(), "DE");
        assert!(CountryCode::parse("DEU").is_err());
        assert_eq!(
            CurrencyCode::parse("usd").expect("currency").as_str(),
            "USD"
        );
        assert!(Slug::parse("acme-corp").is_ok());
        assert!(Slug::parse("-acme").is_err());
        assert!(HttpsUrl::parse("http://acme.com").is_err());
        assert!(HttpsUrl::parse("https://acme.com").is_ok());
    }
}
