//! The service's closed vocabularies: serde enums (so OpenAPI lists their values) that read and
//! write PostgreSQL TEXT. A value outside one is refused with the 422 message the service has
//! always answered for that field.
use serde::{Deserialize, Deserializer, de::Error as _};

/// Declares a vocabulary: a unit enum with its text forms, serialised and stored as that text,
/// deserialised from it with `$refusal` as the message for anything else.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident refused as $refusal:literal {
            $($(#[$vmeta:meta])* $variant:ident = $text:tt),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema, sqlx::Type,
        )]
        #[sqlx(type_name = "text")]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] #[sqlx(rename = $text)] $variant),+
        }

        #[allow(dead_code)] // not every vocabulary is used whole
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| D::Error::custom($refusal))
            }
        }
    };
}

vocabulary! {
    /// The operational roles (spec "Role Definitions").
    pub enum Role refused as "unknown role" {
        PlatformAdmin = "platform_admin",
        SalesAgent = "sales_agent",
        OnboardingSpecialist = "onboarding_specialist",
        SupportSpecialist = "support_specialist",
        SuccessManager = "success_manager",
        SalesSpecialist = "sales_specialist",
        AiSupervisor = "ai_supervisor",
        PlatformEngineer = "platform_engineer",
    }
}

/// A role that serves clients: any but `platform_admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientRole(pub Role);

impl ClientRole {
    pub fn parse(text: &str) -> Option<Self> {
        Role::parse(text)
            .filter(|r| *r != Role::PlatformAdmin)
            .map(ClientRole)
    }
}

impl<'de> Deserialize<'de> for ClientRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ClientRole::parse(&text)
            .ok_or_else(|| D::Error::custom("unknown or non-client-facing role"))
    }
}

vocabulary! {
    /// An agent's presence.
    pub enum AgentStatus refused as "must be one of online, busy, away, offline" {
        Online = "online",
        Busy = "busy",
        Away = "away",
        Offline = "offline",
    }
}

vocabulary! {
    /// How a client asks to be assigned.
    #[derive(Default)]
    pub enum AssignmentType refused as "must be auto or manual" {
        #[default]
        Auto = "auto",
        Manual = "manual",
    }
}

vocabulary! {
    /// How an assignment came about, as recorded.
    pub enum AssignmentKind refused as "unknown assignment type" {
        Auto = "auto",
        Manual = "manual",
        /// An accepted handoff.
        Handoff = "handoff",
        /// A specialist working beside the client's agent.
        Specialist = "specialist",
    }
}

vocabulary! {
    /// `dual` hands onboarding to support and success in parallel.
    pub enum HandoffType refused as "must be warm, standard or dual" {
        Warm = "warm",
        Standard = "standard",
        Dual = "dual",
    }
}

vocabulary! {
    #[derive(Default)]
    pub enum Urgency refused as "must be low, normal, high or urgent" {
        Low = "low",
        #[default]
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
}

vocabulary! {
    pub enum HandoffStatus refused as "unknown handoff status" {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
    }
}

vocabulary! {
    /// A decision on a handoff or an invitation.
    pub enum Action refused as "must be accept or reject" {
        Accept = "accept",
        Reject = "reject",
    }
}

vocabulary! {
    /// Why a specialist is invited: the spec's `upsell_opportunity` and `cross_sell_opportunity`
    /// beside the short forms.
    pub enum InvitationReason refused as "must be upsell, cross_sell, technical_consultation, iteration, upsell_opportunity or cross_sell_opportunity" {
        Upsell = "upsell",
        CrossSell = "cross_sell",
        TechnicalConsultation = "technical_consultation",
        Iteration = "iteration",
        UpsellOpportunity = "upsell_opportunity",
        CrossSellOpportunity = "cross_sell_opportunity",
    }
}

vocabulary! {
    /// The specialists a client can be given beyond the roles themselves (spec: "Sales
    /// Specialist (voice, enterprise, vertical-specific)", `technical_specialist`). Each is a
    /// role with a specialty skill that routing prefers (see `SpecialistType::role`).
    pub enum SpecialistType refused as "unknown specialist type" {
        SalesVoice = "sales_specialist_voice",
        SalesEnterprise = "sales_specialist_enterprise",
        SalesVertical = "sales_specialist_vertical",
        Technical = "technical_specialist",
    }
}

vocabulary! {
    /// How an invited specialist works with the client: beside its agent (an assignment of its
    /// own, taking a slot of its capacity), or advising the inviting agent only (no assignment).
    #[derive(Default)]
    pub enum CollaborationMode refused as "must be join_existing or consult_only" {
        #[default]
        JoinExisting = "join_existing",
        ConsultOnly = "consult_only",
    }
}

vocabulary! {
    /// How pressing an opportunity is (the spec's invitation context).
    pub enum OpportunityUrgency refused as "must be low, medium, high or urgent" {
        Low = "low",
        Medium = "medium",
        High = "high",
        Urgent = "urgent",
    }
}

vocabulary! {
    /// Where an assignment stands against its deadlines.
    pub enum SlaStatus refused as "unknown SLA status" {
        OnTrack = "on_track",
        AtRisk = "at_risk",
        Overdue = "overdue",
    }
}

vocabulary! {
    pub enum InvitationStatus refused as "unknown invitation status" {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
        Completed = "completed",
    }
}

vocabulary! {
    /// The order of `GET /agents/available`: the spec's `workload_asc` (fewest active clients
    /// first), `capacity_desc`, `response_time_asc`, `skills_match_desc`, and the short forms
    /// `utilization` (least utilised first) and `capacity`.
    #[derive(Default)]
    pub enum SortBy refused as "must be utilization, capacity, workload_asc, capacity_desc, response_time_asc or skills_match_desc" {
        #[default]
        Utilization = "utilization",
        Capacity = "capacity",
        WorkloadAsc = "workload_asc",
        CapacityDesc = "capacity_desc",
        ResponseTimeAsc = "response_time_asc",
        SkillsMatchDesc = "skills_match_desc",
    }
}

vocabulary! {
    /// The window of the supervision feed.
    #[derive(Default)]
    pub enum TimeRange refused as "must be last_1h, last_24h or last_7d" {
        Hour = "last_1h",
        #[default]
        Day = "last_24h",
        Week = "last_7d",
    }
}

vocabulary! {
    /// An AI alert's severity.
    pub enum Severity refused as "unknown severity" {
        Critical = "critical",
        Warning = "warning",
        Info = "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_read_their_text_and_refuse_the_rest_with_the_old_message() {
        let status: AgentStatus = serde_json::from_value("busy".into()).expect("busy");
        assert_eq!(status, AgentStatus::Busy);
        assert_eq!(serde_json::to_value(status).expect("ser"), "busy");
        let err = serde_json::from_value::<AgentStatus>("asleep".into()).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "must be one of online, busy, away, offline"
        );
        assert_eq!(TimeRange::parse("last_1h"), Some(TimeRange::Hour));
        assert_eq!(TimeRange::Week.as_str(), "last_7d");
        assert_eq!(Role::ALL.len(), 8);
    }

    #[test]
    fn openapi_lists_the_text_forms() {
        let schema =
            serde_json::to_value(<TimeRange as utoipa::PartialSchema>::schema()).expect("schema");
        assert_eq!(
            schema["enum"],
            serde_json::json!(["last_1h", "last_24h", "last_7d"])
        );
        let schema =
            serde_json::to_value(<Role as utoipa::PartialSchema>::schema()).expect("schema");
        assert_eq!(schema["enum"][0], "platform_admin");
    }

    #[test]
    fn platform_admin_is_not_a_client_role() {
        assert!(ClientRole::parse("platform_admin").is_none());
        assert_eq!(
            ClientRole::parse("sales_agent"),
            Some(ClientRole(Role::SalesAgent))
        );
        let err = serde_json::from_value::<ClientRole>("wizard".into()).expect_err("refused");
        assert_eq!(err.to_string(), "unknown or non-client-facing role");
    }
}
