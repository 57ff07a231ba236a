//! Feature flags and their evaluation: targeting rules on organisation attributes, sticky
//! percentage rollouts (Unleash's bucketing), weighted variants with payloads, a kill switch,
//! and the reason of every answer. Pure and allocation-light: evaluation runs in memory.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::murmur;

/// A flag's definition, as platform admins write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlagDef {
    pub kind: FlagKind,
    /// The kill switch: `false` turns the flag off for everyone, whatever its rules say.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Multivariate flags: the variants, picked by weight (sticky) unless a rule names one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    /// Evaluated in order; the first that matches decides. No rules: on for everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    Boolean,
    Multivariate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub key: String,
    /// Relative weight (0–1000, as Unleash's).
    pub weight: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Only this share of the matching organisations or users (sticky); none: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// The variant this rule serves (multivariate flags); none: picked by weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub attribute: Attribute,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// What a rule may look at: the organisation's attributes and the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    OrganizationId,
    UserId,
    Tier,
    Industry,
    /// The organisation's size (number of employees).
    Size,
    Region,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// The attribute is one of the values.
    In,
    NotIn,
    /// Numeric: at least the (one) value.
    Gte,
    /// Numeric: at most the (one) value.
    Lte,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// 0–100.
    pub percentage: u32,
    pub stickiness: Stickiness,
}

/// Whose id keeps a rollout sticky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stickiness {
    Organization,
    User,
}

/// Who a flag is evaluated for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub size: Option<u32>,
    #[serde(default)]
    pub region: Option<String>,
}

/// Why an evaluation answered what it did (OpenFeature's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The kill switch is off.
    Disabled,
    /// A rule without a rollout matched.
    TargetingMatch,
    /// A rule's rollout put the organisation or user in.
    Split,
    /// The flag has no rules: on for everyone.
    Static,
    /// No rule matched: off.
    Default,
    /// No such flag.
    Error,
}

/// One flag's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    pub reason: Reason,
    /// The index of the rule that decided, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
}

impl Evaluation {
    pub fn off(reason: Reason) -> Self {
        Evaluation {
            enabled: false,
            variant: None,
            payload: None,
            reason,
            rule: None,
        }
    }
}

impl FlagDef {
    /// What is wrong with the definition as a whole (serde has checked each field): the path
    /// and the message, or `None`.
    pub fn problem(&self) -> Option<(String, String)> {
        if self.kind == FlagKind::Multivariate && self.variants.is_empty() {
            return Some((
                "variants".into(),
                "a multivariate flag needs variants".into(),
            ));
        }
        if self.kind == FlagKind::Boolean && !self.variants.is_empty() {
            return Some(("variants".into(), "a boolean flag has no variants".into()));
        }
        if self.variants.iter().any(|v| v.weight > 1000) {
            return Some(("variants".into(), "a weight is at most 1000".into()));
        }
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(p) = rule_problem(self, r) {
                return Some((format!("rules[{i}].{}", p.0), p.1));
            }
        }
        None
    }

    /// Evaluates the flag named `key` for `ctx`.
    pub fn evaluate(&self, key: &str, ctx: &Context) -> Evaluation {
        if !self.enabled {
            return Evaluation::off(Reason::Disabled);
        }
        if self.rules.is_empty() {
            return self.on(key, ctx, None, Reason::Static, None);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.conditions.iter().all(|c| c.holds(ctx)) {
                continue;
            }
            let reason = match &rule.rollout {
                None => Reason::TargetingMatch,
                Some(r) => match sticky_id(ctx, r.stickiness) {
                    Some(id) if murmur::rollout_bucket(id, key) <= r.percentage => Reason::Split,
                    _ => continue,
                },
            };
            return self.on(key, ctx, rule.variant.as_deref(), reason, Some(i));
        }
        Evaluation::off(Reason::Default)
    }

    fn on(
        &self,
        key: &str,
        ctx: &Context,
        named: Option<&str>,
        reason: Reason,
        rule: Option<usize>,
    ) -> Evaluation {
        let variant = match named {
            Some(n) => self.variants.iter().find(|v| v.key == n),
            None => self.weighted(key, ctx),
        };
        Evaluation {
            enabled: true,
            variant: variant.map(|v| v.key.clone()),
            payload: variant.and_then(|v| v.payload.clone()),
            reason,
            rule,
        }
    }

    /// Unleash's variant choice: the sticky id's bucket over the total weight, with the
    /// variant seed.
    fn weighted(&self, key: &str, ctx: &Context) -> Option<&Variant> {
        let total: u32 = self.variants.iter().map(|v| v.weight).sum();
        if total == 0 {
            return None;
        }
        let id = ctx
            .user_id
            .as_deref()
            .or(ctx.organization_id.as_deref())
            .unwrap_or_default();
        let target = murmur::normalized(id, key, total, murmur::VARIANT_SEED);
        let mut acc = 0;
        self.variants.iter().find(|v| {
            acc += v.weight;
            v.weight > 0 && target <= acc
        })
    }
}

fn rule_problem(flag: &FlagDef, r: &Rule) -> Option<(String, String)> {
    if let Some(ro) = &r.rollout
        && ro.percentage > 100
    {
        return Some(("rollout.percentage".into(), "must be 0 to 100".into()));
    }
    if let Some(v) = &r.variant
        && !flag.variants.iter().any(|x| &x.key == v)
    {
        return Some(("variant".into(), format!("no variant named {v:?}")));
    }
    for (j, c) in r.conditions.iter().enumerate() {
        let numeric = matches!(c.operator, Operator::Gte | Operator::Lte);
        if c.values.is_empty() {
            return Some((
                format!("conditions[{j}].values"),
                "at least one value".into(),
            ));
        }
        if numeric && (c.values.len() != 1 || c.values[0].parse::<f64>().is_err()) {
            return Some((
                format!("conditions[{j}].values"),
                "gte and lte take one number".into(),
            ));
        }
    }
    None
}

fn sticky_id(ctx: &Context, s: Stickiness) -> Option<&str> {
    match s {
        Stickiness::Organization => ctx.organization_id.as_deref(),
        Stickiness::User => ctx.user_id.as_deref(),
    }
}

impl Condition {
    fn holds(&self, ctx: &Context) -> bool {
        let size;
        let actual = match self.attribute {
            Attribute::OrganizationId => ctx.organization_id.as_deref(),
            Attribute::UserId => ctx.user_id.as_deref(),
            Attribute::Tier => ctx.tier.as_deref(),
            Attribute::Industry => ctx.industry.as_deref(),
            Attribute::Region => ctx.region.as_deref(),
            Attribute::Size => {
                size = ctx.size.map(|s| s.to_string());
                size.as_deref()
            }
        };
        match (self.operator, actual) {
            (Operator::In, Some(a)) => self.values.iter().any(|v| v.eq_ignore_ascii_case(a)),
            (Operator::NotIn, a) => {
                !a.is_some_and(|a| self.values.iter().any(|v| v.eq_ignore_ascii_case(a)))
            }
            (Operator::Gte | Operator::Lte, Some(a)) => {
                let (Ok(a), Some(Ok(b))) = (
                    a.parse::<f64>(),
                    self.values.first().map(|v| v.parse::<f64>()),
                ) else {
                    return false;
                };
                if self.operator == Operator::Gte {
                    a >= b
                } else {
                    a <= b
                }
            }
            (_, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn flag(v: Value) -> FlagDef {
        serde_json::from_value(v).expect("a flag")
    }

    fn org(id: &str) -> Context {
        Context {
            organization_id: Some(id.into()),
            ..Context::default()
        }
    }

    #[test]
    fn the_kill_switch_wins_over_every_rule() {
        let f = flag(json!({"kind": "boolean", "enabled": false}));
        assert_eq!(
            f.evaluate("x", &org("a")),
            Evaluation::off(Reason::Disabled)
        );
        let f = flag(json!({"kind": "boolean"}));
        assert_eq!(f.evaluate("x", &org("a")).reason, Reason::Static);
    }

    #[test]
    fn targeting_matches_organisation_attributes() {
        let f = flag(json!({"kind": "boolean", "rules": [
            {"conditions": [{"attribute": "tier", "operator": "in", "values": ["enterprise"]},
                            {"attribute": "size", "operator": "gte", "values": ["100"]}]}]}));
        let mut c = org("a");
        c.tier = Some("Enterprise".into());
        c.size = Some(250);
        let e = f.evaluate("x", &c);
        assert_eq!(
            (e.enabled, e.reason, e.rule),
            (true, Reason::TargetingMatch, Some(0))
        );
        c.size = Some(20);
        assert_eq!(f.evaluate("x", &c), Evaluation::off(Reason::Default));
    }

    #[test]
    fn a_rollout_is_sticky_and_close_to_its_percentage() {
        let f = flag(json!({"kind": "boolean", "rules": [
            {"rollout": {"percentage": 30, "stickiness": "organization"}}]}));
        let ids: Vec<String> = (0..10_000).map(|i| format!("org-{i}")).collect();
        let on = ids
            .iter()
            .filter(|id| f.evaluate("new-ui", &org(id)).enabled)
            .count();
        assert!(
            (2_700..=3_300).contains(&on),
            "{on} of 10000 in a 30% rollout"
        );
        for id in ids.iter().take(100) {
            let first = f.evaluate("new-ui", &org(id));
            assert_eq!(first, f.evaluate("new-ui", &org(id)), "sticky for {id}");
            let bucket = murmur::rollout_bucket(id, "new-ui");
            assert_eq!(first.enabled, bucket <= 30);
        }
    }

    #[test]
    fn variants_are_picked_by_weight_or_by_the_rule() {
        let f = flag(json!({"kind": "multivariate", "variants": [
            {"key": "blue", "weight": 500, "payload": {"color": "#00f"}},
            {"key": "green", "weight": 500}],
            "rules": [{"conditions": [{"attribute": "region", "operator": "in", "values": ["eu"]}], "variant": "green"},
                      {"conditions": []}]}));
        let mut c = org("a");
        c.region = Some("eu".into());
        assert_eq!(f.evaluate("theme", &c).variant.as_deref(), Some("green"));
        let blues = (0..1000)
            .filter(|i| {
                f.evaluate("theme", &org(&format!("o{i}")))
                    .variant
                    .as_deref()
                    == Some("blue")
            })
            .count();
        assert!((400..=600).contains(&blues), "{blues}");
        assert!(f.problem().is_none());
    }

    #[test]
    fn unknown_attributes_and_bad_rules_are_refused() {
        let bad: Result<FlagDef, _> = serde_json::from_value(json!({"kind": "boolean", "rules": [
            {"conditions": [{"attribute": "shoe_size", "operator": "in", "values": ["9"]}]}]}));
        assert!(bad.expect_err("refused").to_string().contains("shoe_size"));
        let f = flag(
            json!({"kind": "boolean", "rules": [{"rollout": {"percentage": 120, "stickiness": "user"}}]}),
        );
        assert_eq!(
            f.problem().map(|p| p.0),
            Some("rules[0].rollout.percentage".into())
        );
    }
}
