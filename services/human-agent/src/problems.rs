//! The problem types human-agent answers with besides the kit's common ones (`not-found`,
//! `conflict`, `forbidden`, `validation`, `rate-limited`, …): a client can rely on `type`.
use kit::ProblemType;

pub const UNKNOWN_AGENT: ProblemType = ProblemType::new(
    404,
    "unknown-agent",
    "Unknown Agent",
    "No agent profile has this id (profiles, the permissions lookup, gRPC).",
);
pub const NOT_SERVING_CLIENT: ProblemType = ProblemType::new(
    404,
    "not-serving-client",
    "Not Serving the Client",
    "The caller holds no active assignment for the client (in the role named) to hand off or invite for.",
);
pub const AGENT_EXISTS: ProblemType = ProblemType::new(
    409,
    "agent-exists",
    "Agent Exists",
    "An agent profile or a login with this email exists.",
);
pub const ROLE_TAKEN: ProblemType = ProblemType::new(
    409,
    "role-taken",
    "Role Already Filled",
    "The client already has an active agent in this role.",
);
pub const AGENT_AT_CAPACITY: ProblemType = ProblemType::new(
    409,
    "agent-at-capacity",
    "Agent at Capacity",
    "The agent named cannot take the client now: no free slot (or, for a manual assignment, the role missing or the agent inactive).",
);
pub const NO_AGENT_AVAILABLE: ProblemType = ProblemType::new(
    409,
    "no-agent-available",
    "No Agent Available",
    "No agent with the role (skills, language, presence) and free capacity can take the client now.",
);
pub const HANDOFF_ALREADY_DECIDED: ProblemType = ProblemType::new(
    409,
    "handoff-already-decided",
    "Handoff Already Decided",
    "The handoff was accepted or rejected before; it is decided once.",
);
pub const INVITATION_ALREADY_DECIDED: ProblemType = ProblemType::new(
    409,
    "invitation-already-decided",
    "Invitation Already Decided",
    "The specialist invitation was accepted or declined before; it is decided once.",
);
pub const INVITATION_NOT_ACCEPTED: ProblemType = ProblemType::new(
    409,
    "invitation-not-accepted",
    "Invitation Not Accepted",
    "Only an accepted specialist invitation can be completed.",
);
pub const SPECIALIST_LIMIT: ProblemType = ProblemType::new(
    409,
    "specialist-limit",
    "Specialist Limit",
    "The client already has 5 active (pending or accepted) specialist invitations.",
);

pub const ALL: &[ProblemType] = &[
    UNKNOWN_AGENT,
    NOT_SERVING_CLIENT,
    AGENT_EXISTS,
    ROLE_TAKEN,
    AGENT_AT_CAPACITY,
    NO_AGENT_AVAILABLE,
    HANDOFF_ALREADY_DECIDED,
    INVITATION_ALREADY_DECIDED,
    INVITATION_NOT_ACCEPTED,
    SPECIALIST_LIMIT,
];
