//! Input shapes the service needs beyond `kit::input`, with the messages it has always
//! answered.
use kit::input::HttpUrl;
use serde::{Deserialize, Deserializer, de};
use utoipa::{PartialSchema, ToSchema, openapi};

/// An optional http(s) URL: absent, `null` or blank is `None` (declare it `#[serde(default)]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptUrl(Option<HttpUrl>);

impl OptUrl {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw {
            Some(v) if !v.trim().is_empty() => HttpUrl::parse(v).map(|u| OptUrl(Some(u))),
            _ => Ok(OptUrl(None)),
        }
    }
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de> Deserialize<'de> for OptUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        OptUrl::parse(raw.as_deref()).map_err(de::Error::custom)
    }
}

impl PartialSchema for OptUrl {
    fn schema() -> openapi::RefOr<openapi::schema::Schema> {
        openapi::ObjectBuilder::new()
            .schema_type(openapi::schema::SchemaType::from_iter([
                openapi::schema::Type::String,
                openapi::schema::Type::Null,
            ]))
            .format(Some(openapi::SchemaFormat::Custom("uri".into())))
            .max_length(Some(2048))
            .into()
    }
}
impl ToSchema for OptUrl {}

/// The last page a listing serves (documented as the parameter's maximum).
pub const MAX_PAGE: u32 = 1_000_000;

/// A 1-based page number of a listing, 1 when absent (`#[serde(default)]`), at most
/// [`MAX_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page(u32);

impl Page {
    pub fn get(self) -> u32 {
        self.0
    }
    /// Rows to skip for pages of `limit`.
    pub fn offset(self, limit: u32) -> i64 {
        i64::from(self.0 - 1) * i64::from(limit)
    }
}

impl Default for Page {
    fn default() -> Self {
        Page(1)
    }
}

impl<'de> Deserialize<'de> for Page {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// A number from a query string (`"2"`) or JSON (`2`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            N(u64),
            S(String),
        }
        let n = match Num::deserialize(d)? {
            Num::N(n) => Some(n),
            Num::S(s) => s.trim().parse().ok(),
        };
        match n.map(u32::try_from) {
            Some(Ok(0)) => Err(de::Error::custom("starts at 1")),
            Some(Ok(n)) if n > MAX_PAGE => {
                Err(de::Error::custom(format!("must be at most {MAX_PAGE}")))
            }
            Some(Ok(n)) => Ok(Page(n)),
            _ => Err(de::Error::custom("must be a whole number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_optional_urls() {
        let refusal = |v: serde_json::Value| {
            serde_json::from_value::<Page>(v)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            serde_json::from_value::<Page>("3".into())
                .map(Page::get)
                .ok(),
            Some(3)
        );
        assert_eq!(refusal(0.into()), "starts at 1");
        assert_eq!(refusal("x".into()), "must be a whole number");
        assert_eq!(refusal(4_294_967_296_u64.into()), "must be a whole number");
        assert_eq!(refusal(1_000_001.into()), "must be at most 1000000");
        assert_eq!(Page(3).offset(20), 40);
        assert_eq!(OptUrl::parse(Some("  ")), Ok(OptUrl(None)));
        assert_eq!(
            OptUrl::parse(Some("https://acme.com")).map(|u| u.as_deref().map(str::to_string)),
            Ok(Some("https://acme.com".into()))
        );
        assert_eq!(
            OptUrl::parse(Some("javascript:alert(1)")),
            Err("must be an http(s) URL".into())
        );
    }
}
