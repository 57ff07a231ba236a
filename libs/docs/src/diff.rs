//! Differences between two versions of a document (similar): which sections were added,
//! removed or changed (by id), and within a changed section which words. Serialisable for
//! APIs, and printable as a unified diff.
use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

use crate::model::{Document, Section};

/// What happened to a section between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionChange {
    Added,
    Removed,
    Changed,
    Unchanged,
}

/// A run of words that stayed, was inserted or was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordOp {
    Equal,
    Insert,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordChange {
    pub op: WordOp,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDiff {
    pub id: String,
    pub change: SectionChange,
    /// The section's words, each run marked (empty for unchanged sections).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<WordChange>,
    #[serde(skip)]
    old: String,
    #[serde(skip)]
    new: String,
}

/// The differences between two versions, in the new version's section order (removed
/// sections where they stood in the old one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentDiff {
    pub sections: Vec<SectionDiff>,
}

/// Compares two versions of a document section by section (by id), and word by word inside
/// each section that changed.
pub fn diff(old: &Document, new: &Document) -> DocumentDiff {
    use std::collections::{HashMap, HashSet};
    let new_ids: HashSet<&str> = new.sections.iter().map(|s| s.id.as_str()).collect();
    let old_by_id: HashMap<&str, &Section> =
        old.sections.iter().map(|s| (s.id.as_str(), s)).collect();
    // A removed section is listed after the nearest section before it that survives.
    let mut removed: HashMap<Option<&str>, Vec<&Section>> = HashMap::new();
    let mut last_kept = None;
    for s in &old.sections {
        match new_ids.contains(s.id.as_str()) {
            true => last_kept = Some(s.id.as_str()),
            false => removed.entry(last_kept).or_default().push(s),
        }
    }
    let gone = |after: Option<&str>| {
        removed
            .get(&after)
            .into_iter()
            .flatten()
            .map(|s| section(&s.id, Some(s.plain_text()), None))
            .collect::<Vec<_>>()
    };
    let mut sections = gone(None);
    for s in &new.sections {
        let before = old_by_id.get(s.id.as_str()).map(|o| o.plain_text());
        sections.push(section(&s.id, before, Some(s.plain_text())));
        sections.extend(gone(Some(s.id.as_str())));
    }
    DocumentDiff { sections }
}

fn section(id: &str, old: Option<String>, new: Option<String>) -> SectionDiff {
    let (change, words) = match (&old, &new) {
        (None, Some(n)) => (SectionChange::Added, runs(WordOp::Insert, n)),
        (Some(o), None) => (SectionChange::Removed, runs(WordOp::Delete, o)),
        (Some(o), Some(n)) if o == n => (SectionChange::Unchanged, Vec::new()),
        (Some(o), Some(n)) => (SectionChange::Changed, words(o, n)),
        (None, None) => (SectionChange::Unchanged, Vec::new()),
    };
    SectionDiff {
        id: id.to_string(),
        change,
        words,
        old: old.unwrap_or_default(),
        new: new.unwrap_or_default(),
    }
}

fn runs(op: WordOp, text: &str) -> Vec<WordChange> {
    vec![WordChange {
        op,
        text: text.to_string(),
    }]
}

/// Word-level changes, consecutive words of one kind merged into one run.
fn words(old: &str, new: &str) -> Vec<WordChange> {
    let diff = TextDiff::from_words(old, new);
    let mut out: Vec<WordChange> = Vec::new();
    for change in diff.iter_all_changes() {
        let op = match change.tag() {
            ChangeTag::Equal => WordOp::Equal,
            ChangeTag::Insert => WordOp::Insert,
            ChangeTag::Delete => WordOp::Delete,
        };
        match out.last_mut() {
            Some(last) if last.op == op => last.text.push_str(change.value()),
            _ => out.push(WordChange {
                op,
                text: change.value().to_string(),
            }),
        }
    }
    out
}

impl DocumentDiff {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.sections
            .iter()
            .all(|s| s.change == SectionChange::Unchanged)
    }

    /// A unified diff, line by line, with a `--- a/<id>` / `+++ b/<id>` header per section that
    /// is not unchanged.
    pub fn unified(&self) -> String {
        let mut out = String::new();
        for s in self
            .sections
            .iter()
            .filter(|s| s.change != SectionChange::Unchanged)
        {
            let (a, b) = match s.change {
                SectionChange::Added => ("/dev/null".to_string(), format!("b/{}", s.id)),
                SectionChange::Removed => (format!("a/{}", s.id), "/dev/null".to_string()),
                _ => (format!("a/{}", s.id), format!("b/{}", s.id)),
            };
            let (old, new) = (with_newline(&s.old), with_newline(&s.new));
            let text = TextDiff::from_lines(&old, &new)
                .unified_diff()
                .context_radius(2)
                .header(&a, &b)
                .to_string();
            out.push_str(&text);
        }
        out
    }
}

fn with_newline(s: &str) -> String {
    match s.is_empty() || s.ends_with('\n') {
        true => s.to_string(),
        false => format!("{s}\n"),
    }
}
