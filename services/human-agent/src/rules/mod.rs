//! The service's rules, free of I/O: who may act, roles and the permissions they grant,
//! capacity, the lifecycle and its deadlines, the limits — and the vocabularies and validated
//! input the request types are made of.
use kit::{Problem, Timestamp, auth::Principal, cache::Limit};
use time::Duration;
use uuid::Uuid;

mod input;
mod permissions;
mod vocab;

pub use input::*;
pub use permissions::*;
pub use vocab::*;

/// First contact with an assigned client is due two hours after assignment; the stage is
/// expected to take a week (the spec's example).
pub const FIRST_CONTACT: Duration = Duration::hours(2);
pub const EXPECTED_COMPLETION: Duration = Duration::days(7);
/// A handoff is to be accepted within four hours and the client contacted within twenty.
pub const ACCEPT_WITHIN: Duration = Duration::hours(4);
pub const FIRST_CONTACT_WITHIN: Duration = Duration::hours(20);

/// Specialist invitations active (pending or accepted) per client.
pub const MAX_ACTIVE_INVITATIONS: i64 = 5;
/// Handoffs an agent may initiate.
pub const HANDOFFS: Limit = Limit::per_hour(50);
/// Specialist invitations an agent may send.
pub const INVITATIONS: Limit = Limit::per_day(20);
/// Presence changes per agent.
pub const AVAILABILITY_CHANGES: Limit = Limit::per_hour(100);

/// Platform agents only.
pub fn staff(p: &Principal) -> Result<(), Problem> {
    p.require_agent().map(|_| ())
}

/// Platform admins only.
pub fn platform_admin(p: &Principal) -> Result<(), Problem> {
    if p.is_platform_admin() {
        Ok(())
    } else {
        Err(Problem::forbidden("only a platform admin may do this"))
    }
}

/// The agent itself or a platform admin.
pub fn self_or_admin(p: &Principal, agent: Uuid) -> Result<(), Problem> {
    if p.is_platform_admin() || p.agent.as_ref().is_some_and(|a| a.agent_id == agent) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "only the agent or a platform admin may do this",
        ))
    }
}

/// A profile speaks English unless it says otherwise.
pub fn languages_or_english(languages: Vec<String>) -> Vec<String> {
    if languages.is_empty() {
        vec!["en".into()]
    } else {
        languages
    }
}

impl TimeRange {
    pub fn span(self) -> Duration {
        match self {
            TimeRange::Hour => Duration::hours(1),
            TimeRange::Day => Duration::hours(24),
            TimeRange::Week => Duration::days(7),
        }
    }
}

impl Role {
    /// The lifecycle stage an assignment in this role serves.
    pub fn stage(self) -> &'static str {
        match self {
            Role::SalesAgent => "sales",
            Role::OnboardingSpecialist => "onboarding",
            Role::SupportSpecialist => "support",
            Role::SuccessManager => "success",
            _ => "upsell",
        }
    }
}

impl SpecialistType {
    /// The role a specialist of this type holds, and the specialty skill routing prefers among
    /// the agents holding it. Technical consultations go to support specialists (the role that
    /// handles clients' technical issues).
    pub fn role(self) -> (Role, &'static str) {
        match self {
            SpecialistType::SalesVoice => (Role::SalesSpecialist, "voice"),
            SpecialistType::SalesEnterprise => (Role::SalesSpecialist, "enterprise"),
            SpecialistType::SalesVertical => (Role::SalesSpecialist, "vertical"),
            SpecialistType::Technical => (Role::SupportSpecialist, "technical"),
        }
    }
}

/// An assignment within this long of its deadline is at risk.
pub const AT_RISK_WITHIN: Duration = Duration::hours(24);

/// Where work due at `deadline` stands at `now`.
pub fn sla_status(now: Timestamp, deadline: Timestamp) -> SlaStatus {
    if now.0 > deadline.0 {
        SlaStatus::Overdue
    } else if deadline.0 - now.0 < AT_RISK_WITHIN {
        SlaStatus::AtRisk
    } else {
        SlaStatus::OnTrack
    }
}

/// The share of `capacity` in use, in whole percent (rounded).
pub fn utilization_percent(load: i64, capacity: i32) -> i64 {
    (utilization(load, capacity) * 100.0).round() as i64
}

/// The agent a request names as acting (`agent_id`, `invited_by_agent_id`): the caller itself,
/// or, for a platform admin, the agent it acts for. Another agent's id is refused naming the
/// field (before anything is read, so it tells nothing about any record).
pub fn acting_agent(p: &Principal, named: Option<Uuid>, field: &str) -> Result<Uuid, Problem> {
    let me = p.require_agent()?;
    match named {
        Some(a) if a != me && !p.is_platform_admin() => {
            Err(Problem::invalid(field, "must be your own agent id"))
        }
        Some(a) => Ok(a),
        None => Ok(me),
    }
}

/// Whether an agent with `load` active clients has a free slot of `capacity`.
pub fn has_free_slot(load: i64, capacity: i32) -> bool {
    load < i64::from(capacity)
}

/// The share of `capacity` in use.
pub fn utilization(load: i64, capacity: i32) -> f64 {
    load as f64 / f64::from(capacity)
}

/// Whether an agent may take a client in `role`: active, holding the role, and online when
/// that is asked for (capacity is counted separately, under the row lock).
pub fn can_serve(
    is_active: bool,
    roles: &[String],
    status: AgentStatus,
    role: Role,
    need_online: bool,
) -> bool {
    is_active
        && roles.iter().any(|r| r == role.as_str())
        && (!need_online || status == AgentStatus::Online)
}

/// The roles a handoff goes to: both support and success for a dual one.
pub fn receiving_roles(kind: HandoffType, to: Role) -> Vec<Role> {
    match kind {
        HandoffType::Dual => vec![Role::SupportSpecialist, Role::SuccessManager],
        HandoffType::Warm | HandoffType::Standard => vec![to],
    }
}

/// A handoff goes to another role and another agent.
pub fn check_handoff(from: Role, to: Role, me: Uuid, target: Option<Uuid>) -> Result<(), Problem> {
    if from == to {
        return Err(Problem::invalid(
            "to_role",
            "a handoff goes to another role",
        ));
    }
    if target == Some(me) {
        return Err(Problem::invalid(
            "target_agent_id",
            "a handoff goes to another agent",
        ));
    }
    Ok(())
}

/// The lifecycle's stages in order, with the role serving each.
pub const LIFECYCLE: &[(&str, Role)] = &[
    ("sales", Role::SalesAgent),
    ("onboarding", Role::OnboardingSpecialist),
    ("support", Role::SupportSpecialist),
    ("success", Role::SuccessManager),
];

/// The stages after the furthest one of `reached` (after the first stage when none is).
pub fn future_stages<'a>(
    reached: impl Iterator<Item = &'a str> + Clone,
) -> &'static [(&'static str, Role)] {
    let furthest = LIFECYCLE
        .iter()
        .rposition(|(st, _)| reached.clone().any(|r| r == *st))
        .unwrap_or(0);
    &LIFECYCLE[furthest + 1..]
}

/// How a timeline shows an assignment's status: an active one is `in_progress`.
pub fn stage_status(status: &str) -> String {
    if status == "active" {
        "in_progress".into()
    } else {
        status.into()
    }
}

/// Reading request bodies and query strings as the kit's extractors do, for the modules' tests
/// of the answers a bad request gets.
#[cfg(test)]
pub(crate) mod testing {
    use axum::{
        body::Body,
        extract::{FromRequest, FromRequestParts},
        http::Request,
    };
    use serde::de::DeserializeOwned;

    fn refused(p: kit::Problem) -> String {
        assert_eq!(p.status(), 422, "{p}");
        p.detail().to_string()
    }

    /// The 422 detail of `body` read as a `T`.
    pub async fn body_refusal<T: DeserializeOwned>(body: serde_json::Value) -> String {
        let req = Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        match kit::Json::<T>::from_request(req, &()).await {
            Ok(_) => panic!("{body} was accepted"),
            Err(p) => refused(p),
        }
    }

    /// `body` read as a `T`.
    pub async fn body<T: DeserializeOwned>(body: serde_json::Value) -> T {
        let req = Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        match kit::Json::<T>::from_request(req, &()).await {
            Ok(kit::Json(v)) => v,
            Err(p) => panic!("{body} was refused: {p}"),
        }
    }

    /// The 422 detail of the query string `query` read as a `T`.
    pub async fn query_refusal<T: DeserializeOwned>(query: &str) -> String {
        let req = Request::builder()
            .uri(format!("/?{query}"))
            .body(Body::empty())
            .expect("request");
        let (mut parts, _) = req.into_parts();
        match kit::Query::<T>::from_request_parts(&mut parts, &()).await {
            Ok(_) => panic!("{query} was accepted"),
            Err(p) => refused(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_and_eligibility() {
        assert!(has_free_slot(3, 4));
        assert!(!has_free_slot(4, 4));
        assert!((utilization(1, 4) - 0.25).abs() < f64::EPSILON);
        let roles = ["support_specialist".to_string()];
        let online = AgentStatus::Online;
        assert!(can_serve(
            true,
            &roles,
            online,
            Role::SupportSpecialist,
            true
        ));
        assert!(!can_serve(
            false,
            &roles,
            online,
            Role::SupportSpecialist,
            false
        ));
        assert!(!can_serve(true, &roles, online, Role::SalesAgent, false));
        assert!(!can_serve(
            true,
            &roles,
            AgentStatus::Away,
            Role::SupportSpecialist,
            true
        ));
        assert!(can_serve(
            true,
            &roles,
            AgentStatus::Away,
            Role::SupportSpecialist,
            false
        ));
    }

    #[test]
    fn handoffs_go_elsewhere_and_dual_ones_to_two_roles() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let (sales, onb) = (Role::SalesAgent, Role::OnboardingSpecialist);
        assert!(check_handoff(sales, onb, me, Some(other)).is_ok());
        assert_eq!(
            check_handoff(sales, sales, me, None)
                .expect_err("same role")
                .detail(),
            "to_role: a handoff goes to another role"
        );
        assert!(check_handoff(sales, onb, me, Some(me)).is_err());
        assert_eq!(
            receiving_roles(HandoffType::Dual, onb),
            [Role::SupportSpecialist, Role::SuccessManager]
        );
        assert_eq!(receiving_roles(HandoffType::Warm, onb), [onb]);
    }

    #[test]
    fn the_lifecycle_ahead() {
        let stages = |v: &[&'static str]| -> Vec<&str> {
            future_stages(v.iter().copied())
                .iter()
                .map(|(s, _)| *s)
                .collect()
        };
        assert_eq!(stages(&["sales", "onboarding"]), ["support", "success"]);
        assert_eq!(stages(&["upsell"]), ["onboarding", "support", "success"]);
        assert_eq!(stages(&["success"]), Vec::<&str>::new());
        assert_eq!(stage_status("active"), "in_progress");
        assert_eq!(stage_status("transferred"), "transferred");
        assert_eq!(Role::SupportSpecialist.stage(), "support");
        assert_eq!(Role::SalesSpecialist.stage(), "upsell");
    }
}
