//! The service's problem types: stable `type` URIs a client can rely on, documented in the
//! OpenAPI document. The kit's common types (`not-found`, `validation`, …) are added to these.
use kit::ProblemType;

pub const NOTE_ARCHIVED: ProblemType = ProblemType::new(
    409,
    "note-archived",
    "Note Archived",
    "An archived note cannot be changed.",
);

pub const TITLE_TAKEN: ProblemType = ProblemType::new(
    409,
    "note-title-taken",
    "Title Taken",
    "Another note of the organisation has this title.",
);

pub const STATUS_TRANSITION: ProblemType = ProblemType::new(
    422,
    "note-status-transition",
    "Status Transition Not Allowed",
    "The note's status cannot move to the one asked for.",
);

pub const ALL: &[ProblemType] = &[NOTE_ARCHIVED, TITLE_TAKEN, STATUS_TRANSITION];
