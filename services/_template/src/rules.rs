//! Pure rules: no database, no I/O — unit-tested here.
use serde::{Deserialize, Serialize};

/// A note's status (a closed vocabulary: a serde enum, so OpenAPI lists its values, and a
/// database type stored as TEXT).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum NoteStatus {
    Open,
    Done,
    Archived,
}

/// Which status changes a person may make: open ↔ done; archiving is the job's.
pub fn may_move(from: NoteStatus, to: NoteStatus) -> bool {
    use NoteStatus::*;
    matches!((from, to), (Open, Done) | (Done, Open)) || from == to
}

#[cfg(test)]
mod tests {
    use super::{NoteStatus::*, may_move};

    #[test]
    fn people_move_notes_between_open_and_done_only() {
        assert!(may_move(Open, Done));
        assert!(may_move(Done, Open));
        assert!(may_move(Open, Open));
        assert!(!may_move(Open, Archived));
        assert!(!may_move(Archived, Open));
    }
}
