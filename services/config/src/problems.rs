//! The config service's problem types.
use kit::ProblemType;

pub const SCHEMA_VIOLATION: ProblemType = ProblemType::new(
    422,
    "config-schema-violation",
    "Schema Violation",
    "The document does not conform to its namespace's JSON Schema; `errors` names each path and rule.",
);

pub const NO_SCHEMA: ProblemType = ProblemType::new(
    422,
    "config-no-schema",
    "No Schema",
    "The namespace has no registered schema: every document is validated, so one must exist first.",
);

pub const INVALID_SCHEMA: ProblemType = ProblemType::new(
    422,
    "config-invalid-schema",
    "Invalid Schema",
    "The schema is not a usable JSON Schema (or refers to a remote document).",
);

pub const UNREADABLE_DOCUMENT: ProblemType = ProblemType::new(
    422,
    "config-unreadable-document",
    "Unreadable Document",
    "The YAML or JSON cannot be read, or exceeds the parsing budget (size, depth, aliases).",
);

pub const FOREIGN_VERSION: ProblemType = ProblemType::new(
    422,
    "config-version-of-another-document",
    "Version Of Another Document",
    "The version named belongs to another namespace or key than the one addressed.",
);

pub const INVALID_FLAG: ProblemType = ProblemType::new(
    422,
    "config-invalid-flag",
    "Invalid Flag",
    "The flag definition is inconsistent (variants, rollout percentage, rule values).",
);

pub const LAYER_FORBIDDEN: ProblemType = ProblemType::new(
    403,
    "config-layer-forbidden",
    "Layer Not Yours",
    "The caller may not write this layer: platform admins write the default and tier layers, an organisation's admins its own tenant and environment layers.",
);

pub const SCHEDULE_SETTLED: ProblemType = ProblemType::new(
    409,
    "config-schedule-settled",
    "Schedule Settled",
    "The scheduled change was already applied, cancelled or has failed: only a pending one can be cancelled.",
);

pub const VERSION_CONFLICT: ProblemType = ProblemType::new(
    409,
    "config-version-conflict",
    "Version Conflict",
    "The layer has moved past the version the change is to be written over.",
);

pub const ALL: &[ProblemType] = &[
    SCHEMA_VIOLATION,
    NO_SCHEMA,
    INVALID_SCHEMA,
    UNREADABLE_DOCUMENT,
    FOREIGN_VERSION,
    INVALID_FLAG,
    LAYER_FORBIDDEN,
    SCHEDULE_SETTLED,
    VERSION_CONFLICT,
];
