//! Accounts: their lifecycle, the work email a client signs up with, the password policy,
//! and the codes and passwords as presented.
use std::{collections::HashSet, fmt, ops::Deref, sync::LazyLock};

use kit::{
    Problem,
    input::{Email, check_email, check_text},
};
use serde::{Deserialize, Deserializer, Serialize, de};
use utoipa::{PartialSchema, ToSchema, openapi};

use super::vocabulary;

/// A login's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    AssistedUnclaimed,
    Claimed,
    Suspended,
    Deleted,
    Locked,
}

vocabulary!(AccountStatus, "is not an account status", {
    Active => "active", AssistedUnclaimed => "assisted_unclaimed", Claimed => "claimed",
    Suspended => "suspended", Deleted => "deleted", Locked => "locked",
});

impl AccountStatus {
    /// Whether the account may sign in and keep its sessions.
    pub fn may_sign_in(self) -> bool {
        matches!(self, AccountStatus::Active | AccountStatus::Claimed)
    }
}

/// Whom a login belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum UserKind {
    Client,
    Agent,
}

vocabulary!(UserKind, "must be client or agent", { Client => "client", Agent => "agent" });

static FREE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/free_email_domains.txt")
        .lines()
        .collect()
});
static DISPOSABLE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/disposable_email_domains.txt")
        .lines()
        .collect()
});

/// A work email address: valid, lower-cased, and not at a free-mail or disposable domain
/// (the shipped lists, `data/`), including their subdomains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkEmail(Email);

impl WorkEmail {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = Email::parse(raw)?;
        let mut d = email.domain();
        loop {
            if FREE.contains(d) {
                return Err(
                    "use your work email address; free email providers are not accepted".into(),
                );
            }
            if DISPOSABLE.contains(d) {
                return Err("disposable email addresses are not accepted".into());
            }
            match d.split_once('.') {
                Some((_, rest)) if rest.contains('.') => d = rest,
                _ => break,
            }
        }
        Ok(WorkEmail(email))
    }
}

impl Deref for WorkEmail {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for WorkEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for WorkEmail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        WorkEmail::parse(&raw).map_err(de::Error::custom)
    }
}

impl PartialSchema for WorkEmail {
    fn schema() -> openapi::RefOr<openapi::schema::Schema> {
        Email::schema()
    }
}
impl ToSchema for WorkEmail {}

/// The password policy: 10–128 characters, three of lower case, upper case, digits and
/// symbols, and not the email's local part. Refused naming `field`.
pub fn password_policy(field: &str, password: &str, email: &str) -> Result<(), Problem> {
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

/// A name for a new account given where it is optional in the request (an invitation accepted
/// by someone without an account): 1–200 characters.
pub fn new_account_name(field: &str, name: Option<&str>) -> Result<String, Problem> {
    check_text(name.unwrap_or_default(), 1, 200).map_err(|m| Problem::invalid(field, m))
}

/// An email address from elsewhere (a provider, an operator, a peer), refused naming `field`.
pub fn email(field: &str, raw: &str) -> Result<String, Problem> {
    check_email(raw).map_err(|m| Problem::invalid(field, m))
}

/// A mailed verification code as typed: 6 letters and digits, any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

impl VerificationCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 6 && code.chars().all(|c| c.is_ascii_alphanumeric()) {
            Ok(VerificationCode(code))
        } else {
            Err("must be 6 letters and digits".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for VerificationCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        VerificationCode::parse(&raw).map_err(de::Error::custom)
    }
}

impl PartialSchema for VerificationCode {
    fn schema() -> openapi::RefOr<openapi::schema::Schema> {
        openapi::ObjectBuilder::new()
            .schema_type(openapi::schema::Type::String)
            .pattern(Some("^[A-Za-z0-9]{6}$"))
            .into()
    }
}
impl ToSchema for VerificationCode {}

/// A password as presented to sign in: at most 1 024 bytes (longer ones are refused before
/// any hashing). Its `Debug` does not show it.
#[derive(Clone)]
pub struct SignInPassword(String);

impl SignInPassword {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for SignInPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInPassword(…)")
    }
}

impl<'de> Deserialize<'de> for SignInPassword {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.len() > 1024 {
            return Err(de::Error::custom("is too long"));
        }
        Ok(SignInPassword(raw))
    }
}

impl PartialSchema for SignInPassword {
    fn schema() -> openapi::RefOr<openapi::schema::Schema> {
        openapi::ObjectBuilder::new()
            .schema_type(openapi::schema::Type::String)
            .format(Some(openapi::SchemaFormat::KnownFormat(
                openapi::KnownFormat::Password,
            )))
            .into()
    }
}
impl ToSchema for SignInPassword {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_email_rules() {
        assert_eq!(
            WorkEmail::parse(" John@Acme.com ").map(|e| e.to_string()),
            Ok("john@acme.com".into())
        );
        for free in [
            "a@gmail.com",
            "a@yahoo.co.uk",
            "a@outlook.com",
            "a@proton.me",
            "a@mail.gmail.com",
        ] {
            assert!(
                WorkEmail::parse(free).is_err_and(|m| m.contains("work email")),
                "{free}"
            );
        }
        assert_eq!(
            WorkEmail::parse("a@mailinator.com"),
            Err("disposable email addresses are not accepted".into())
        );
        assert!(WorkEmail::parse("a@example.com").is_err());
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
            assert_eq!(
                WorkEmail::parse(bad),
                Err("is not a valid email address".into()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn password_rules() {
        let detail = |pw: &str, email: &str| {
            password_policy("password", pw, email)
                .err()
                .map(|p| p.detail().to_string())
        };
        assert_eq!(detail("SecurePass123!", "john@acme.com"), None);
        assert_eq!(
            detail("short1!A", "john@acme.com").as_deref(),
            Some("password: must be at least 10 characters")
        );
        assert_eq!(
            detail(&"Aa1!".repeat(33), "john@acme.com").as_deref(),
            Some("password: must be at most 128 characters")
        );
        assert!(
            detail("alllowercaseletters", "john@acme.com").is_some_and(|d| d.contains("three of"))
        );
        assert_eq!(
            detail("John.Doe-2025xyz!", "john.doe@acme.com").as_deref(),
            Some("password: must not contain your email address")
        );
    }

    #[test]
    fn statuses_codes_and_presented_passwords() {
        for s in AccountStatus::ALL {
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::from(s.as_str()))
            );
        }
        for k in UserKind::ALL {
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::Value::from(k.as_str()))
            );
        }
        assert!(AccountStatus::Claimed.may_sign_in() && !AccountStatus::Locked.may_sign_in());
        assert_eq!(
            VerificationCode::parse(" abc123 ").map(|c| c.as_str().to_string()),
            Ok("ABC123".into())
        );
        assert!(VerificationCode::parse("ab-12!").is_err());
        assert!(VerificationCode::parse("ABC1234").is_err());
        let long = serde_json::Value::from("x".repeat(1025));
        assert_eq!(
            serde_json::from_value::<SignInPassword>(long)
                .expect_err("refused")
                .to_string(),
            "is too long"
        );
    }
}
