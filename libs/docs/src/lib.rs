//! Documents: one model ([`Document`]: title, metadata, sections with ids, blocks) that every
//! renderer takes — PDF ([`pdf`], typst with embedded fonts), DOCX ([`docx`]), Markdown
//! ([`markdown`], also parsed back into blocks) — text templates ([`template`], minijinja:
//! strict, escaping by language, bounded work and size), and diffs between versions ([`diff`]).
//! Every rendered file comes with its SHA-256 ([`Rendered`]); every input fault is a typed
//! [`DocError`] (see [`DocError::is_input`]), never a panic.
pub mod diff;
mod digest;
pub mod docx;
mod error;
pub mod escape;
mod image;
mod limits;
pub mod markdown;
mod model;
pub mod pdf;
pub mod template;

pub use diff::{DocumentDiff, SectionChange, SectionDiff, WordChange, WordOp, diff};
pub use digest::Rendered;
pub use error::{DocError, TemplateError, TemplateErrorKind};
pub use image::{MAX_SIDE_PX, Png};
pub use limits::Limits;
pub use model::{Block, Certificate, Document, Metadata, Party, Section, Table};
pub use template::{Escape, Renderer, TemplateLimits};
