//! What registering or changing an agent takes besides plain fields: its roles — names
//! (`["sales_agent"]`) or the specification's role objects (`{"role_type": "sales_agent",
//! "primary": true, "skills": […], …}`) — and the specification's `capacity` object.
use std::fmt;

use kit::input::OptText;
use serde::{
    Deserialize, Deserializer,
    de::{Error, MapAccess, Visitor, value::MapAccessDeserializer},
};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::rules::{Capacity, Identifiers, Role, Roles};

/// A role as the specification sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleObject {
    #[schema(value_type = Role)]
    pub role_type: String,
    /// The primary role (also read as `is_primary`); without one, the first role is primary.
    #[serde(default, alias = "is_primary")]
    pub primary: bool,
    /// Skills, certifications and languages of this role; the agent's own lists (which
    /// routing matches) include them.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub skills: Identifiers<50>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub certifications: Identifiers<50>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub languages: Identifiers<20>,
}

/// One entry of `roles`: a role name or a role object.
#[derive(Debug, Clone, ToSchema)]
#[serde(untagged)]
pub enum RoleItem {
    #[schema(value_type = Role)]
    Name(String),
    Object(RoleObject),
}

impl RoleItem {
    fn name(&self) -> &str {
        match self {
            RoleItem::Name(n) => n,
            RoleItem::Object(o) => &o.role_type,
        }
    }

    fn is_primary(&self) -> bool {
        matches!(self, RoleItem::Object(o) if o.primary)
    }
}

struct RoleItemVisitor;

impl<'de> Visitor<'de> for RoleItemVisitor {
    type Value = RoleItem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a role name or a role object")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<RoleItem, E> {
        Ok(RoleItem::Name(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RoleItem, A::Error> {
        RoleObject::deserialize(MapAccessDeserializer::new(map)).map(RoleItem::Object)
    }
}

impl<'de> Deserialize<'de> for RoleItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RoleItemVisitor)
    }
}

/// An agent's roles as given, the primary one first.
#[derive(Debug, Clone)]
pub struct RoleList {
    roles: Roles,
    objects: Vec<RoleObject>,
}

impl RoleList {
    fn parse(mut items: Vec<RoleItem>) -> Result<Self, String> {
        if items.iter().filter(|i| i.is_primary()).count() > 1 {
            return Err("at most one primary role".into());
        }
        // The primary role goes first: that is how the record marks it.
        if let Some(i) = items.iter().position(RoleItem::is_primary) {
            let primary = items.remove(i);
            items.insert(0, primary);
        }
        let names: Vec<String> = items.iter().map(|i| i.name().to_string()).collect();
        let roles = Roles::parse(&names)?;
        let objects = items
            .into_iter()
            .filter_map(|i| match i {
                RoleItem::Object(o) => Some(o),
                RoleItem::Name(_) => None,
            })
            .collect();
        Ok(RoleList { roles, objects })
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// The details given with the roles, as the record keeps them with each role (`None` when
    /// only names were given).
    pub fn details(&self) -> Option<Value> {
        if self.objects.is_empty() {
            return None;
        }
        let details = self.objects.iter().map(|o| {
            json!({"role_type": o.role_type.trim().to_ascii_lowercase(), "skills": o.skills.clone().into_vec(),
                   "certifications": o.certifications.clone().into_vec(), "languages": o.languages.clone().into_vec()})
        });
        Some(Value::Array(details.collect()))
    }

    /// `own` with every role's skills added.
    pub fn with_skills(&self, own: Vec<String>) -> Vec<String> {
        union(own, self.objects.iter().map(|o| &o.skills))
    }

    pub fn with_certifications(&self, own: Vec<String>) -> Vec<String> {
        union(own, self.objects.iter().map(|o| &o.certifications))
    }

    pub fn with_languages(&self, own: Vec<String>) -> Vec<String> {
        union(own, self.objects.iter().map(|o| &o.languages))
    }

    /// Whether any role came with skills, certifications or languages of its own.
    pub fn has_lists(&self) -> bool {
        self.objects.iter().any(|o| {
            o.skills != Identifiers::default()
                || o.certifications != Identifiers::default()
                || o.languages != Identifiers::default()
        })
    }
}

fn union<'a, const MAX: usize>(
    mut own: Vec<String>,
    more: impl Iterator<Item = &'a Identifiers<MAX>>,
) -> Vec<String> {
    for list in more {
        for v in list.clone().into_vec() {
            if !own.contains(&v) {
                own.push(v);
            }
        }
    }
    own
}

impl<'de> Deserialize<'de> for RoleList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<RoleItem>::deserialize(d)?;
        RoleList::parse(items).map_err(D::Error::custom)
    }
}

/// The roles of a new agent: never `platform_admin`. A login starts without admin rights;
/// a platform admin grants the role to a registered agent (`PATCH /api/v1/agents/{agent_id}`),
/// and `fleet admin create-platform-admin` makes the first one.
#[derive(Debug, Clone)]
pub struct NewRoles(pub RoleList);

impl<'de> Deserialize<'de> for NewRoles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = RoleList::deserialize(d)?;
        if list.roles.as_slice().contains(&Role::PlatformAdmin) {
            return Err(D::Error::custom(
                "platform_admin is granted to a registered agent by a platform admin, not at registration",
            ));
        }
        Ok(NewRoles(list))
    }
}

/// The specification's `capacity` object.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityInput {
    /// Concurrent clients, 1 to 1 000 (the profile's `max_capacity`).
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub max_concurrent_clients: Option<Capacity>,
    /// Handoffs the agent works on at once, 1 to 1 000.
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub max_active_handoffs: Option<Capacity>,
    /// e.g. `09:00-18:00 EST`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub availability_hours: OptText<100>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: Value) -> Result<RoleList, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn role_objects_put_the_primary_first_and_keep_their_details() {
        let l = list(json!([
            {"role_type": "onboarding_specialist", "skills": ["integration_setup"]},
            {"role_type": "Sales_Agent", "primary": true, "skills": ["b2b_saas"], "languages": ["english"]}
        ]))
        .expect("valid");
        assert_eq!(l.roles().names(), ["sales_agent", "onboarding_specialist"]);
        assert_eq!(
            l.with_skills(vec!["b2b_saas".into()]),
            ["b2b_saas", "integration_setup"]
        );
        let d = l.details().expect("details");
        assert_eq!(d[0]["role_type"], "sales_agent");
        assert_eq!(d[1]["skills"], json!(["integration_setup"]));
        let named =
            list(json!(["support_specialist", {"role_type": "ai_supervisor", "is_primary": true}]))
                .expect("valid");
        assert_eq!(
            named.roles().names(),
            ["ai_supervisor", "support_specialist"]
        );
        assert!(
            list(json!(["sales_agent"]))
                .expect("names")
                .details()
                .is_none()
        );
    }

    #[test]
    fn bad_roles_are_refused_saying_why() {
        let two = json!([{"role_type": "sales_agent", "primary": true}, {"role_type": "ai_supervisor", "primary": true}]);
        assert_eq!(list(two).expect_err("two"), "at most one primary role");
        assert!(
            list(json!([{"role_type": "wizard"}]))
                .expect_err("unknown")
                .starts_with("unknown role wizard")
        );
        assert!(
            list(json!([{"role_type": "sales_agent", "rank": 1}]))
                .expect_err("unknown field")
                .contains("unknown field `rank`")
        );
        assert!(
            list(json!([7]))
                .expect_err("number")
                .contains("a role name or a role object")
        );
        let admin = serde_json::from_value::<NewRoles>(json!([{"role_type": "platform_admin"}]));
        assert!(
            admin
                .expect_err("admin")
                .to_string()
                .starts_with("platform_admin is granted")
        );
    }
}
