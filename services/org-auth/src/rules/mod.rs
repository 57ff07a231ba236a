//! Pure rules: no database, no I/O — unit-tested next to their definitions. Roles and
//! permissions (`roles`), account statuses, work email and the password policy (`accounts`),
//! organisation settings, branding and slugs (`organizations`), and the input shapes the
//! service needs beyond `kit::input` (`input`). Each input type refuses a bad value through
//! serde with the message the service has always answered, so the 422 names the field.
use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor},
};
use serde_json::Value;

mod accounts;
mod input;
mod organizations;
mod roles;

pub use accounts::{
    AccountStatus, SignInPassword, UserKind, VerificationCode, WorkEmail, email, new_account_name,
    password_policy,
};
pub use input::{OptUrl, Page};
pub use organizations::{Branding, OrgSettings, first_free_slug, slugify};
pub use roles::{Permissions, Role};

/// A closed vocabulary's spellings and its refusal: `ALL`, `as_str`, `FromStr`, `Display`, and a
/// `Deserialize` whose error is the service's own message (`role: must be one of admin, member,
/// viewer`). The enum derives `Serialize` (snake_case) and `ToSchema` itself, so OpenAPI lists
/// its values; the unit tests check that both spellings agree.
macro_rules! vocabulary {
    ($ty:ident, $refusal:expr, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            #[allow(dead_code)]
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(String::from($refusal)),
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use vocabulary;

/// Reads a JSON object entry by entry: `check` turns each `(key, value)` into the entry kept or
/// a message. The message is raised while the entry's value is read, so serde's path — and the
/// 422 — name `<field>.<key>`; anything but an object is refused with `not_object`.
pub(crate) fn entries<'de, D, T>(
    d: D,
    not_object: &'static str,
    check: fn(&str, Value) -> Result<T, String>,
) -> Result<Vec<(String, T)>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Entry<'k, T> {
        key: &'k str,
        check: fn(&str, Value) -> Result<T, String>,
    }
    impl<'de, T> DeserializeSeed<'de> for Entry<'_, T> {
        type Value = T;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            let v = Value::deserialize(d)?;
            (self.check)(self.key, v).map_err(de::Error::custom)
        }
    }
    struct Object<T> {
        not_object: &'static str,
        check: fn(&str, Value) -> Result<T, String>,
    }
    impl<T> Object<T> {
        fn refuse<E: de::Error>(&self) -> Result<Vec<(String, T)>, E> {
            Err(E::custom(self.not_object))
        }
    }
    impl<'de, T> Visitor<'de> for Object<T> {
        type Value = Vec<(String, T)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.not_object)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let v = map.next_value_seed(Entry {
                    key: &key,
                    check: self.check,
                })?;
                out.retain(|(k, _): &(String, T)| *k != key);
                out.push((key, v));
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            self.refuse()
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            self.refuse()
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            self.refuse()
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            self.refuse()
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            self.refuse()
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            self.refuse()
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.refuse()
        }
    }
    d.deserialize_any(Object { not_object, check })
}
