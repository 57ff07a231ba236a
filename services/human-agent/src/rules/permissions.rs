//! Permissions: what each role may do by default (service → actions), what the lookup answers,
//! and the permissions a platform admin may set on a profile.
use std::{collections::BTreeMap, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{DeserializeSeed, Error, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Value, json};

use super::Role;

/// What a role may do unless the profile says otherwise (service → actions).
pub fn default_permissions(roles: &[Role]) -> Value {
    let mut p: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for role in roles {
        let grants: &[(&str, &[&str])] = match role {
            Role::SalesAgent => &[
                ("assisted_signup", &["create", "read", "update"]),
                ("research_engine", &["read", "trigger"]),
                ("demo_generator", &["read", "create"]),
                ("handoffs", &["initiate"]),
            ],
            Role::OnboardingSpecialist => &[
                ("prd_builder", &["read", "write"]),
                ("handoffs", &["initiate", "accept"]),
            ],
            Role::SupportSpecialist => &[
                ("support", &["read", "write"]),
                ("handoffs", &["initiate", "accept"]),
            ],
            Role::SuccessManager => &[
                ("analytics", &["read"]),
                ("handoffs", &["initiate", "accept"]),
            ],
            Role::SalesSpecialist => &[
                ("pricing", &["read", "approve"]),
                ("proposals", &["read", "write"]),
            ],
            Role::AiSupervisor => &[("supervision", &["read", "intervene"])],
            Role::PlatformAdmin | Role::PlatformEngineer => &[],
        };
        for (service, actions) in grants {
            let e = p.entry(service).or_default();
            for a in *actions {
                if !e.contains(a) {
                    e.push(a);
                }
            }
        }
    }
    json!(p)
}

/// The permissions the lookup answers: none for a deactivated agent; a platform admin's stored
/// ones plus `platform_admin: ["all"]`.
pub fn effective_permissions(is_active: bool, roles: &[String], stored: Value) -> Value {
    if !is_active {
        return json!({});
    }
    let mut p = stored;
    if roles.iter().any(|r| r == Role::PlatformAdmin.as_str()) {
        p["platform_admin"] = json!(["all"]);
    }
    p
}

const NOT_A_MAP: &str = "must be an object of service → actions";

/// An agent's permissions: an object of service → action names (lower-case words). A bad entry
/// is refused naming it (`permissions.<service>`).
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionMap(Value);

impl PermissionMap {
    pub fn into_value(self) -> Value {
        self.0
    }
}

fn word(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

/// The actions of one service, checked with the service's name so that either being wrong is
/// refused at `permissions.<service>`.
struct ActionsOf<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for ActionsOf<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let actions = Value::deserialize(d)?;
        let ok = word(self.0, 64)
            && actions
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x.as_str().is_some_and(|s| word(s, 32))));
        if ok {
            Ok(actions)
        } else {
            Err(D::Error::custom("must be a list of action names"))
        }
    }
}

struct PermissionVisitor;

impl<'de> Visitor<'de> for PermissionVisitor {
    type Value = PermissionMap;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of service → actions")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PermissionMap, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(service) = map.next_key::<String>()? {
            let actions = map.next_value_seed(ActionsOf(&service))?;
            out.insert(service, actions);
        }
        Ok(PermissionMap(Value::Object(out)))
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<PermissionMap, E> {
        Err(E::custom(NOT_A_MAP))
    }
    fn visit_i64<E: Error>(self, _: i64) -> Result<PermissionMap, E> {
        Err(E::custom(NOT_A_MAP))
    }
    fn visit_u64<E: Error>(self, _: u64) -> Result<PermissionMap, E> {
        Err(E::custom(NOT_A_MAP))
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<PermissionMap, E> {
        Err(E::custom(NOT_A_MAP))
    }
    fn visit_str<E: Error>(self, _: &str) -> Result<PermissionMap, E> {
        Err(E::custom(NOT_A_MAP))
    }
    fn visit_unit<E: Error>(self) -> Result<PermissionMap, E> {
        Err(E::custom(NOT_A_MAP))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<PermissionMap, A::Error> {
        Err(A::Error::custom(NOT_A_MAP))
    }
}

impl<'de> Deserialize<'de> for PermissionMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PermissionVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal<T: for<'de> Deserialize<'de> + fmt::Debug>(v: Value) -> String {
        serde_json::from_value::<T>(v)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn roles_grant_their_defaults_once() {
        let p = default_permissions(&[Role::SalesAgent, Role::OnboardingSpecialist]);
        assert_eq!(p["assisted_signup"], json!(["create", "read", "update"]));
        assert_eq!(p["handoffs"], json!(["initiate", "accept"]));
        assert_eq!(default_permissions(&[Role::PlatformAdmin]), json!({}));
    }

    #[test]
    fn the_lookup_answers_nothing_for_an_inactive_agent_and_all_for_an_admin() {
        let stored = json!({"research_engine": ["read"]});
        assert_eq!(effective_permissions(false, &[], stored.clone()), json!({}));
        let admin = effective_permissions(true, &["platform_admin".into()], stored.clone());
        assert_eq!(admin["platform_admin"], json!(["all"]));
        assert_eq!(
            effective_permissions(true, &["sales_agent".into()], stored.clone()),
            stored
        );
    }

    #[test]
    fn permissions_name_the_bad_entry() {
        let ok: PermissionMap =
            serde_json::from_value(json!({"research_engine": ["read"]})).expect("valid");
        assert_eq!(ok.into_value(), json!({"research_engine": ["read"]}));
        assert_eq!(refusal::<PermissionMap>(json!("x")), NOT_A_MAP);
        assert_eq!(refusal::<PermissionMap>(json!([1])), NOT_A_MAP);
        assert_eq!(
            refusal::<PermissionMap>(json!({"a": "b"})),
            "must be a list of action names"
        );
        assert_eq!(
            refusal::<PermissionMap>(json!({"Bad": ["read"]})),
            "must be a list of action names"
        );
    }
}
