//! The event envelope of ARCHITECTURE §6 and the mapping of each payload message to its
//! `event_type` and topic.
use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub use crate::workflow::events::v1;

/// `{event_id, event_type, source, occurred_at, organization_id, subject_id, trace_parent, data}`
/// — JSON on Kafka; the message key is `organization_id` so one tenant's events keep their order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: String,
    pub event_type: String,
    pub source: String,
    /// RFC 3339.
    pub occurred_at: String,
    pub organization_id: String,
    #[serde(default)]
    pub subject_id: String,
    #[serde(default)]
    pub trace_parent: String,
    /// One of the messages of `proto/workflow/events/v1`, as JSON.
    pub data: serde_json::Value,
}

impl Envelope {
    /// Decodes `data` as the payload type `E`, checking that the envelope carries that type.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        if self.event_type != E::EVENT_TYPE {
            return Err(DecodeError::WrongType {
                expected: E::EVENT_TYPE,
                found: self.event_type.clone(),
            });
        }
        serde_json::from_value(self.data.clone()).map_err(DecodeError::Payload)
    }
}

#[derive(Debug)]
pub enum DecodeError {
    WrongType {
        expected: &'static str,
        found: String,
    },
    Payload(serde_json::Error),
}

impl std::error::Error for DecodeError {}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::WrongType { expected, found } => {
                write!(f, "expected event_type {expected}, found {found}")
            }
            DecodeError::Payload(e) => write!(f, "event payload does not match its type: {e}"),
        }
    }
}

/// Every topic, named once: services declare what they publish and consume, consumers
/// subscribe and event types are routed by these constants.
pub mod topic {
    pub const AGENT: &str = "agent_events";
    pub const ANALYTICS: &str = "analytics_events";
    pub const AUTH: &str = "auth_events";
    pub const CATALOG: &str = "catalog_events";
    pub const CONFIG: &str = "config_events";
    pub const CONVERSATION: &str = "conversation_events";
    pub const CRM: &str = "crm_events";
    pub const DEMO: &str = "demo_events";
    pub const FEEDBACK: &str = "feedback_events";
    pub const MONITORING: &str = "monitoring_events";
    pub const NDA: &str = "nda_events";
    pub const ORG: &str = "org_events";
    pub const PRD: &str = "prd_events";
    pub const PRICING: &str = "pricing_events";
    pub const PROPOSAL: &str = "proposal_events";
    pub const RESEARCH: &str = "research_events";
    /// Revoked access tokens: kept only as long as the tokens they cover, read whole by every
    /// verifier at start.
    pub const REVOCATION: &str = "revocation_events";
    pub const SUPPORT: &str = "support_events";
    pub const TENANT: &str = "tenant_events";
    pub const TEMPLATE: &str = "template_events";
    pub const VOICE: &str = "voice_events";

    /// All topics.
    pub const ALL: &[&str] = &[
        AGENT,
        ANALYTICS,
        AUTH,
        CATALOG,
        CONFIG,
        CONVERSATION,
        CRM,
        DEMO,
        FEEDBACK,
        MONITORING,
        NDA,
        ORG,
        PRD,
        PRICING,
        PROPOSAL,
        RESEARCH,
        REVOCATION,
        SUPPORT,
        TENANT,
        TEMPLATE,
        VOICE,
    ];
}

/// An event payload: a generated message with its `event_type` name and the topic it goes to.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    const EVENT_TYPE: &'static str;
    const TOPIC: &'static str;
}

macro_rules! events {
    ($($ty:ident => $name:literal on $topic:expr),* $(,)?) => {
        $(impl Event for v1::$ty {
            const EVENT_TYPE: &'static str = $name;
            const TOPIC: &'static str = $topic;
        })*
        /// Every known `(event_type, topic)` pair.
        pub const ALL: &[(&str, &str)] = &[$(($name, $topic)),*];
    };
}

events! {
    UserSignedUp => "user_signed_up" on topic::AUTH,
    UserLoggedIn => "user_logged_in" on topic::AUTH,
    AssistedAccountCreated => "assisted_account_created" on topic::AUTH,
    AssistedAccountApproved => "assisted_account_approved" on topic::AUTH,
    AssistedAccountRejected => "assisted_account_rejected" on topic::AUTH,
    AssistedAccountClaimed => "assisted_account_claimed" on topic::AUTH,
    ClaimLinkResent => "claim_link_resent" on topic::AUTH,
    AssistedAccountAccessGranted => "assisted_account_access_granted" on topic::AUTH,
    AssistedAccountExpired => "assisted_account_expired" on topic::AUTH,
    TokensRevoked => "tokens_revoked" on topic::REVOCATION,
    OrganizationCreated => "organization_created" on topic::ORG,
    MemberInvited => "member_invited" on topic::ORG,
    MemberJoined => "member_joined" on topic::ORG,
    MemberRoleUpdated => "member_role_updated" on topic::ORG,
    MemberRemoved => "member_removed" on topic::ORG,
    AgentRegistered => "agent_registered" on topic::AGENT,
    ClientAssignedToAgent => "client_assigned_to_agent" on topic::AGENT,
    HandoffInitiated => "handoff_initiated" on topic::AGENT,
    HandoffAccepted => "handoff_accepted" on topic::AGENT,
    HandoffRejected => "handoff_rejected" on topic::AGENT,
    SpecialistInvited => "specialist_invited" on topic::AGENT,
    AgentStatusUpdated => "agent_status_updated" on topic::AGENT,
    AgentRolesChanged => "agent_roles_changed" on topic::AGENT,
    AiAlertRaised => "ai_alert_raised" on topic::MONITORING,
    AiAlertResolved => "ai_alert_resolved" on topic::MONITORING,
    ConversationStarted => "conversation_started" on topic::CONVERSATION,
    ConversationEscalated => "conversation_escalated" on topic::CONVERSATION,
    NoteCreated => "note_created" on topic::TEMPLATE,
    ConfigChanged => "config_changed" on topic::CONFIG,
    FlagChanged => "flag_changed" on topic::CONFIG,
    SchemaChanged => "schema_changed" on topic::CONFIG,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_with_spec_field_names() {
        let e = v1::MemberRoleUpdated {
            organization_id: "o".into(),
            user_id: "u".into(),
            old_role: "member".into(),
            new_role: "admin".into(),
            updated_by: "a".into(),
        };
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(json["old_role"], "member");
        assert_eq!(json["new_role"], "admin");
        let env = Envelope {
            event_id: "1".into(),
            event_type: "member_role_updated".into(),
            source: "org-auth".into(),
            occurred_at: "2025-10-04T11:30:00Z".into(),
            organization_id: "o".into(),
            subject_id: "u".into(),
            trace_parent: String::new(),
            data: json,
        };
        assert_eq!(env.decode::<v1::MemberRoleUpdated>().expect("decodes"), e);
        assert!(env.decode::<v1::MemberRemoved>().is_err());
    }

    #[test]
    fn an_agents_role_set_travels_with_its_version() {
        let e = v1::AgentRolesChanged {
            agent_id: "a".into(),
            user_id: "u".into(),
            primary_role: "sales_agent".into(),
            roles: vec!["sales_agent".into(), "ai_supervisor".into()],
            is_active: true,
            version: 3,
        };
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(
            json["roles"],
            serde_json::json!(["sales_agent", "ai_supervisor"])
        );
        assert_eq!(json["version"], 3);
        assert_eq!(<v1::AgentRolesChanged as Event>::TOPIC, topic::AGENT);
        let back: v1::AgentRolesChanged = serde_json::from_value(json).expect("decodes");
        assert_eq!(back, e);
    }

    #[test]
    fn absent_fields_default() {
        let e: v1::AgentRegistered = serde_json::from_str(r#"{"agent_id":"a"}"#).expect("defaults");
        assert!(e.roles.is_empty());
    }
}
