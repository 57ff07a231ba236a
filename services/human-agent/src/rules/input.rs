//! Validated input: newtypes request types declare their fields with, deserialised through
//! serde so that an invalid value is refused (422) naming its field, with the message the
//! service has always answered.
//!
//! Longer than most modules: every validated field type of the service's requests, in one place
//! beside the messages they answer with; a fifth is its unit tests.
use kit::Timestamp;
use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

use super::Role;

/// Normalised lists of short identifiers (skills, languages, certifications): trimmed,
/// lower-cased, without repeats, at most `max`.
pub fn identifiers(raw: &[String], max: usize) -> Result<Vec<String>, String> {
    if raw.len() > max {
        return Err(format!("at most {max} entries"));
    }
    let mut out: Vec<String> = Vec::new();
    for s in raw {
        let s = s.trim().to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !ok {
            return Err("entries are short identifiers like enterprise_sales".into());
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// A list of at most `MAX` short identifiers ([`identifiers`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers<const MAX: usize>(Vec<String>);

impl<const MAX: usize> Identifiers<MAX> {
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Identifiers<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        identifiers(&raw, MAX)
            .map(Identifiers)
            .map_err(D::Error::custom)
    }
}

/// An agent's roles: one to eight known roles, the first being the primary one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn parse(raw: &[String]) -> Result<Self, String> {
        let names = identifiers(raw, 8)?;
        if names.is_empty() {
            return Err("at least one role".into());
        }
        let mut roles = Vec::with_capacity(names.len());
        for name in &names {
            let role = Role::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {name}; known: {}", known.join(", "))
            })?;
            roles.push(role);
        }
        Ok(Roles(roles))
    }

    pub fn primary(&self) -> Role {
        self.0[0]
    }

    pub fn as_slice(&self) -> &[Role] {
        &self.0
    }

    /// As stored (`TEXT[]`) and carried in events.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|r| r.as_str().to_string()).collect()
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        Roles::parse(&raw).map_err(D::Error::custom)
    }
}

/// A login's address as org-auth receives it: trimmed and lower-cased (org-auth validates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEmail(String);

impl LoginEmail {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LoginEmail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?.trim().to_ascii_lowercase();
        // The rest of the address rules are org-auth's (it creates the login); a control
        // character or an overlong value never reaches a query.
        if v.len() > 254 || v.chars().any(char::is_control) {
            return Err(D::Error::custom("is not a valid email address"));
        }
        Ok(LoginEmail(v))
    }
}

/// Checks printable text: trimmed, at most `max` characters, no control characters.
fn printable(raw: &str, max: usize) -> Option<&str> {
    let v = raw.trim();
    (v.chars().count() <= max && !v.chars().any(char::is_control)).then_some(v)
}

/// A person's name: 1 to 200 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for FullName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        printable(&raw, 200)
            .filter(|v| !v.is_empty())
            .map(|v| FullName(v.to_string()))
            .ok_or_else(|| D::Error::custom("1 to 200 printable characters"))
    }
}

/// A presence message: at most 280 printable characters; absent, `null` or blank is none.
/// Declare the field `#[serde(default)]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusMessage(Option<String>);

impl StatusMessage {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de> Deserialize<'de> for StatusMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(StatusMessage(None)),
            Some(raw) => printable(&raw, 280)
                .map(|v| StatusMessage(Some(v.to_string()).filter(|v| !v.is_empty())))
                .ok_or_else(|| D::Error::custom("at most 280 printable characters")),
        }
    }
}

/// A time given as RFC 3339 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub Timestamp);

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Timestamp::parse(&raw)
            .map(Rfc3339)
            .ok_or_else(|| D::Error::custom("must be an RFC 3339 time"))
    }
}

/// An agent's capacity: 1 to 1 000 concurrent clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity(i32);

impl Capacity {
    /// What a profile gets when none is given.
    pub const DEFAULT: Capacity = Capacity(20);

    pub fn get(self) -> i32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Capacity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i32::deserialize(d)?;
        if (1..=1000).contains(&n) {
            Ok(Capacity(n))
        } else {
            Err(D::Error::custom("must be 1 to 1000"))
        }
    }
}

/// Required skills: each trimmed and lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skills(Vec<String>);

impl Skills {
    pub fn from_raw(raw: &[String]) -> Self {
        Skills(raw.iter().map(|s| s.trim().to_ascii_lowercase()).collect())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Skills {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        // Matched against stored skills: bounded printable text only (a NUL byte would reach
        // the query).
        if raw.len() > 50 || raw.iter().any(|s| printable(s, 100).is_none()) {
            return Err(D::Error::custom(
                "at most 50 entries of at most 100 printable characters",
            ));
        }
        Ok(Skills::from_raw(&raw))
    }
}

/// Skills in a query string: comma-separated, trimmed, lower-cased, blanks dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkillFilter(Vec<String>);

impl SkillFilter {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SkillFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(SkillFilter(
            raw.split(',')
                .map(|x| x.trim().to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .collect(),
        ))
    }
}

/// A comma-separated query value whose items each pass `ok` (blanks dropped); the first that
/// does not is refused as `unknown value "…"`.
fn csv(raw: &str, ok: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let items: Vec<String> = raw
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    match items.iter().find(|i| !ok(i)) {
        Some(bad) => Err(format!("unknown value {bad:?}")),
        None => Ok(items),
    }
}

/// Alert severities in a query string: `critical,warning`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Severities(Vec<String>);

impl Severities {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Severities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        csv(&raw, |s| super::Severity::parse(s).is_some())
            .map(Severities)
            .map_err(D::Error::custom)
    }
}

/// Service names in a query string: `agent_orchestration,voice_agent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceNames(Vec<String>);

impl ServiceNames {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ServiceNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        csv(&raw, |s| {
            s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(ServiceNames)
        .map_err(D::Error::custom)
    }
}

/// What a handoff carries for the receiving agent: at most 5 000 characters of notes, 50 next
/// actions and 100 completed items (else refused as `context: too large`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffContext {
    #[serde(default)]
    pub current_stage: Option<String>,
    #[serde(default)]
    pub next_actions: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub client_preferences: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub completed_items: Vec<Value>,
    #[serde(default)]
    pub important_notes: Option<String>,
}

/// A [`HandoffContext`] within its limits.
#[derive(Debug, Clone)]
pub struct Context(HandoffContext);

impl Context {
    /// The stage the client is at, as the handing agent put it.
    pub fn stage(&self) -> Option<&str> {
        self.0.current_stage.as_deref()
    }

    pub fn next_actions_count(&self) -> usize {
        self.0.next_actions.len()
    }

    /// Notes passed on: the important notes, when there are any.
    pub fn notes_count(&self) -> usize {
        usize::from(
            self.0
                .important_notes
                .as_deref()
                .is_some_and(|n| !n.trim().is_empty()),
        )
    }

    /// As stored with the handoff (every key present).
    pub fn to_json(&self) -> Value {
        let c = &self.0;
        serde_json::json!({
            "current_stage": c.current_stage,
            "next_actions": c.next_actions,
            "client_preferences": c.client_preferences,
            "completed_items": c.completed_items,
            "important_notes": c.important_notes,
        })
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = HandoffContext::deserialize(d)?;
        let notes = c.important_notes.as_deref().unwrap_or_default();
        let nul = c
            .current_stage
            .iter()
            .chain(c.important_notes.iter())
            .chain(&c.next_actions)
            .any(|t| t.contains('\0'))
            || c.client_preferences
                .iter()
                .chain(&c.completed_items)
                .any(|v| v.to_string().contains("\\u0000"));
        if nul {
            // PostgreSQL's JSONB holds no NUL character: refused here, not failed in the query.
            return Err(D::Error::custom("must not contain NUL characters"));
        }
        if notes.chars().count() > 5000
            || c.next_actions.len() > 50
            || c.completed_items.len() > 100
        {
            return Err(D::Error::custom("too large"));
        }
        Ok(Context(c))
    }
}

/// A JSON object of at most 10 kB: a specialist's outcome, an assignment's context.
#[derive(Debug, Clone, PartialEq)]
pub struct SmallObject(Value);

/// A specialist's outcome, e.g. `{"deal_closed": true, "revenue": 50000}`.
pub type Outcome = SmallObject;

impl SmallObject {
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SmallObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let text = v.to_string();
        // PostgreSQL's JSONB holds no NUL character: refused here, not failed in the query.
        if v.is_object() && text.len() <= 10_000 && !text.contains("\\u0000") {
            Ok(SmallObject(v))
        } else {
            Err(D::Error::custom("must be an object (at most 10 kB)"))
        }
    }
}

/// The role a specialist is invited in: a client-facing role (`sales_specialist`) or one of
/// the specialist types (`sales_specialist_voice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitedRole {
    Role(Role),
    Specialist(super::SpecialistType),
}

impl InvitedRole {
    /// The role the specialist holds, and the specialty skill routing prefers.
    pub fn role(self) -> (Role, Option<&'static str>) {
        match self {
            InvitedRole::Role(r) => (r, None),
            InvitedRole::Specialist(t) => {
                let (r, skill) = t.role();
                (r, Some(skill))
            }
        }
    }

    /// As asked for and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitedRole::Role(r) => r.as_str(),
            InvitedRole::Specialist(t) => t.as_str(),
        }
    }
}

impl<'de> Deserialize<'de> for InvitedRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if let Some(t) = super::SpecialistType::parse(&text) {
            return Ok(InvitedRole::Specialist(t));
        }
        super::ClientRole::parse(&text)
            .map(|r| InvitedRole::Role(r.0))
            .ok_or_else(|| D::Error::custom("unknown or non-client-facing role"))
    }
}

/// What the spec's invitation sends as `context`: the opportunity, its value and urgency, and
/// background for the specialist.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationContext {
    /// At most 100 bytes.
    #[serde(default)]
    pub opportunity_type: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub estimated_value: Option<Amount>,
    #[serde(default)]
    pub urgency: Option<super::OpportunityUrgency>,
    /// At most 5 000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub background: Option<Background>,
}

/// An opportunity's estimated value: a non-negative amount under 10¹².
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amount(f64);

impl Amount {
    /// As bound to `NUMERIC(14, 2)`.
    pub fn to_numeric(self) -> String {
        format!("{:.2}", self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..1e12).contains(&v) {
            Ok(Amount(v))
        } else {
            Err(D::Error::custom("must be a non-negative amount"))
        }
    }
}

/// Background for a specialist: at most 5 000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Background(String);

impl Background {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Background {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        if v.chars().count() > 5000 {
            return Err(D::Error::custom("too long"));
        }
        Ok(Background(v))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use serde_json::json;

    use super::*;

    fn refusal<T: for<'de> Deserialize<'de> + fmt::Debug>(v: Value) -> String {
        serde_json::from_value::<T>(v)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_login_email_with_a_control_character_is_refused_before_any_query() {
        assert_eq!(
            refusal::<LoginEmail>(json!("a\u{0}b@acme.com")),
            "is not a valid email address"
        );
        let ok: LoginEmail = serde_json::from_value(json!(" Ann@Acme.com ")).expect("valid");
        assert_eq!(ok.as_str(), "ann@acme.com");
    }

    #[test]
    fn required_skills_are_bounded_printable_text() {
        assert_eq!(
            refusal::<Skills>(json!(["ok", "a\u{0}b"])),
            "at most 50 entries of at most 100 printable characters"
        );
        let s: Skills = serde_json::from_value(json!([" Billing "])).expect("valid");
        assert_eq!(s.as_slice(), ["billing"]);
    }

    #[test]
    fn identifier_lists_are_normalised_and_bounded() {
        let v: Identifiers<3> =
            serde_json::from_value(json!([" B2B ", "b2b", "enterprise_sales"])).expect("valid");
        assert_eq!(v.into_vec(), ["b2b", "enterprise_sales"]);
        assert_eq!(
            refusal::<Identifiers<1>>(json!(["a", "b"])),
            "at most 1 entries"
        );
        assert_eq!(
            refusal::<Identifiers<5>>(json!(["no spaces"])),
            "entries are short identifiers like enterprise_sales"
        );
    }

    #[test]
    fn roles_are_known_and_the_first_is_primary() {
        let r: Roles = serde_json::from_value(json!(["Sales_Agent", "ai_supervisor"])).expect("ok");
        assert_eq!(r.primary(), Role::SalesAgent);
        assert_eq!(r.names(), ["sales_agent", "ai_supervisor"]);
        assert_eq!(refusal::<Roles>(json!([])), "at least one role");
        assert!(refusal::<Roles>(json!(["wizard"])).starts_with("unknown role wizard; known: "));
    }

    #[test]
    fn free_text_keeps_its_limits() {
        assert_eq!(
            refusal::<FullName>(json!("  ")),
            "1 to 200 printable characters"
        );
        let m: StatusMessage = serde_json::from_value(json!("   ")).expect("blank");
        assert_eq!(m.as_deref(), None);
        assert_eq!(
            refusal::<StatusMessage>(json!("a\u{7}")),
            "at most 280 printable characters"
        );
        assert_eq!(
            refusal::<Rfc3339>(json!("tomorrow")),
            "must be an RFC 3339 time"
        );
        assert_eq!(refusal::<Capacity>(json!(0)), "must be 1 to 1000");
        assert_eq!(
            refusal::<Amount>(json!(-1)),
            "must be a non-negative amount"
        );
        assert_eq!(
            refusal::<Outcome>(json!([1])),
            "must be an object (at most 10 kB)"
        );
    }

    #[test]
    fn query_lists() {
        let s: SkillFilter = serde_json::from_value(json!(" Billing, ,sql")).expect("ok");
        assert_eq!(s.as_slice(), ["billing", "sql"]);
        assert_eq!(
            refusal::<Severities>(json!("critical,panic")),
            "unknown value \"panic\""
        );
        assert_eq!(
            refusal::<ServiceNames>(json!("a;b")),
            "unknown value \"a;b\""
        );
    }

    #[test]
    fn an_invited_role_is_a_client_role_or_a_specialist_type() {
        let voice: InvitedRole =
            serde_json::from_value(json!("sales_specialist_voice")).expect("ok");
        assert_eq!(voice.role(), (Role::SalesSpecialist, Some("voice")));
        assert_eq!(voice.as_str(), "sales_specialist_voice");
        let plain: InvitedRole = serde_json::from_value(json!("sales_specialist")).expect("ok");
        assert_eq!(plain.role(), (Role::SalesSpecialist, None));
        assert_eq!(
            refusal::<InvitedRole>(json!("platform_admin")),
            "unknown or non-client-facing role"
        );
        assert_eq!(
            refusal::<InvitationContext>(json!({"urgency": "whenever"})),
            "must be low, medium, high or urgent"
        );
    }

    #[test]
    fn a_context_within_its_limits() {
        let c: Context = serde_json::from_value(json!({"next_actions": ["Call"]})).expect("ok");
        assert_eq!(c.to_json()["next_actions"], json!(["Call"]));
        assert!(c.to_json().get("important_notes").is_some());
        let many: Vec<String> = (0..51).map(|i| i.to_string()).collect();
        assert_eq!(
            refusal::<Context>(json!({"next_actions": many})),
            "too large"
        );
    }
}
