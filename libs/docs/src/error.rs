//! The typed errors of this library. Everything a caller's input can cause is a variant the
//! caller can answer as a 4xx (see [`DocError::is_input`]); the rest are faults of the renderer.
use serde::Serialize;

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TemplateErrorKind {
    #[error("undefined variable `{name}`")]
    UndefinedVariable { name: String },
    #[error("the template did too much work (more than {fuel} steps)")]
    OutOfFuel { fuel: u64 },
    #[error("the template is {size} bytes, more than {limit}")]
    TemplateTooLarge { size: usize, limit: usize },
    #[error("the output is larger than {limit} bytes")]
    OutputTooLarge { limit: usize },
    #[error("syntax error: {detail}")]
    Syntax { detail: String },
    #[error("{detail}")]
    Render { detail: String },
}

/// A template error naming the template and, where known, the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("template `{template}`{}: {kind}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TemplateError {
    pub template: String,
    pub line: Option<usize>,
    #[serde(flatten)]
    pub kind: TemplateErrorKind,
}

/// Every error of this library.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A document exceeds a [`crate::Limits`] cap.
    #[error("the document has too many {what}: {actual}, at most {limit}")]
    TooLarge {
        what: &'static str,
        actual: usize,
        limit: usize,
    },
    /// A document is malformed; `at` names where (e.g. `sections[2].blocks[0]`).
    #[error("{at}: {reason}")]
    Invalid { at: String, reason: String },
    #[error("image: {reason}")]
    InvalidImage { reason: String },
    /// Markdown this library does not turn into blocks.
    #[error("markdown line {line}: {reason}")]
    Markdown { line: usize, reason: String },
    /// The typesetter failed on a valid document (a fault of this library, not of the input).
    #[error("PDF typesetting failed: {0}")]
    Pdf(String),
    #[error("DOCX writing failed: {0}")]
    Docx(String),
}

impl DocError {
    /// Whether the caller's input caused this (answer 4xx) rather than the renderer (5xx).
    pub fn is_input(&self) -> bool {
        !matches!(self, DocError::Pdf(_) | DocError::Docx(_))
    }
}
