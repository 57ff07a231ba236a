//! Roles, the services and actions permissions name, and a membership's permissions.
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{entries, vocabulary};

/// A member's role in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
    Viewer,
}

vocabulary!(Role, "must be one of admin, member, viewer", {
    Admin => "admin", Member => "member", Viewer => "viewer",
});

/// A platform service a membership's permissions may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    PrdBuilder,
    Research,
    Demos,
    Analytics,
    Ndas,
    Pricing,
    Proposals,
    Support,
    Feedback,
}

vocabulary!(Service, "unknown service; known: prd_builder, research, demos, analytics, ndas, pricing, proposals, support, feedback", {
    PrdBuilder => "prd_builder", Research => "research", Demos => "demos",
    Analytics => "analytics", Ndas => "ndas", Pricing => "pricing", Proposals => "proposals",
    Support => "support", Feedback => "feedback",
});

/// What a permission allows on a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Write,
    Admin,
}

vocabulary!(Action, "actions are read, write, admin", {
    Read => "read", Write => "write", Admin => "admin",
});

/// A membership's permissions: service → actions, e.g. `{"prd_builder": ["read", "write"]}`.
/// Known services and actions only; repeated actions are kept once, in their first place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Permissions(BTreeMap<Service, Vec<Action>>);

impl Permissions {
    /// A role's default permissions (spec §0 examples).
    pub fn of(role: Role) -> Self {
        use Action::*;
        Permissions(
            Service::ALL
                .iter()
                .map(|s| {
                    let actions = match (role, s) {
                        (Role::Admin, Service::PrdBuilder) => vec![Read, Write, Admin],
                        (Role::Admin, _) => vec![Read, Write],
                        (Role::Member, Service::PrdBuilder) => vec![Read, Write],
                        _ => vec![Read],
                    };
                    (*s, actions)
                })
                .collect(),
        )
    }

    /// As stored (JSONB) and answered.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }

    fn entry(service: &str, actions: Value) -> Result<(Service, Vec<Action>), String> {
        let service: Service = service.parse()?;
        let list = actions
            .as_array()
            .ok_or_else(|| "must be a list of actions".to_string())?;
        let mut out: Vec<Action> = Vec::new();
        for a in list {
            let a: Action = a
                .as_str()
                .ok_or_else(|| "actions are read, write, admin".to_string())?
                .parse()?;
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Ok((service, out))
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        entries(
            d,
            "must be an object of service → actions",
            Permissions::entry,
        )
        .map(|e| Permissions(e.into_iter().map(|(_, v)| v).collect()))
    }
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
    fn default_permissions_follow_the_role() {
        let admin = Permissions::of(Role::Admin).to_json();
        assert_eq!(
            admin["prd_builder"],
            serde_json::json!(["read", "write", "admin"])
        );
        assert_eq!(admin["research"], serde_json::json!(["read", "write"]));
        let member = Permissions::of(Role::Member).to_json();
        assert_eq!(member["prd_builder"], serde_json::json!(["read", "write"]));
        assert_eq!(member["support"], serde_json::json!(["read"]));
        let viewer = Permissions::of(Role::Viewer).to_json();
        assert_eq!(viewer.as_object().map(Map::len), Some(9));
        assert_eq!(viewer["prd_builder"], serde_json::json!(["read"]));
    }

    #[test]
    fn permissions_name_known_services_and_actions_once() {
        let p: Permissions = serde_json::from_value(serde_json::json!(
            {"research": ["write", "read", "write"], "prd_builder": []}
        ))
        .expect("valid");
        assert_eq!(
            p.to_json(),
            serde_json::json!({"prd_builder": [], "research": ["write", "read"]})
        );
        assert!(
            refusal::<Permissions>(serde_json::json!({"billing": ["read"]}))
                .starts_with("unknown service; known: prd_builder, research,")
        );
        assert_eq!(
            refusal::<Permissions>(serde_json::json!({"research": ["delete"]})),
            "actions are read, write, admin"
        );
        assert_eq!(
            refusal::<Permissions>(serde_json::json!({"research": [5]})),
            "actions are read, write, admin"
        );
        assert_eq!(
            refusal::<Permissions>(serde_json::json!({"research": "read"})),
            "must be a list of actions"
        );
        assert_eq!(
            refusal::<Permissions>(serde_json::json!(["research"])),
            "must be an object of service → actions"
        );
    }

    #[test]
    fn vocabularies_spell_their_values_as_serde_does() {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r).ok(), Some(Value::from(r.as_str())));
        }
        for s in Service::ALL {
            assert_eq!(serde_json::to_value(s).ok(), Some(Value::from(s.as_str())));
        }
        for a in Action::ALL {
            assert_eq!(serde_json::to_value(a).ok(), Some(Value::from(a.as_str())));
        }
        assert_eq!(
            refusal::<Role>("owner".into()),
            "must be one of admin, member, viewer"
        );
    }
}
