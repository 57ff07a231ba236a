//! The one document model every renderer takes: a title, metadata and sections (with stable ids)
//! of blocks. User data lives here as data; renderers never splice it into markup unescaped.
use serde::{Deserialize, Serialize};

use crate::image::Png;

/// A document: what the PDF, DOCX and Markdown renderers and the differ all take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub title: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub sections: Vec<Section>,
}

/// Who and what the document is about; printed under the title and written into the file's
/// own metadata where the format has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A reference printed in the header (e.g. "NDA-2024-0042").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The date line under the title, as the caller wants it shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The organisation's logo, drawn in the page header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Png>,
}

/// A part of a document with an id that stays the same across versions (diffs go by it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    /// Printed as the section's level-1 heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub blocks: Vec<Block>,
}

/// One block of a section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A heading inside a section: level 2 to 4 (level 1 is the section's title).
    Heading {
        level: u8,
        text: String,
    },
    Paragraph {
        text: String,
    },
    List {
        #[serde(default)]
        ordered: bool,
        items: Vec<String>,
    },
    Table(Table),
    Image {
        png: Png,
        /// Width on the page in millimetres (the image's aspect ratio is kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width_mm: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    PageBreak,
    /// A signing certificate: on a page of its own, the parties, when each signed and the hashes.
    Certificate(Certificate),
}

/// A table whose header row repeats on every page it spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The record of a signing: what was signed (its SHA-256) and by whom, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub title: String,
    /// SHA-256 (hex) of the document that was signed.
    pub document_sha256: String,
    pub parties: Vec<Party>,
}

/// One signatory on a [`Certificate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    pub name: String,
    pub email: String,
    pub role: String,
    /// When the party signed, as the caller wants it shown (e.g. RFC 3339).
    pub signed_at: String,
    /// SHA-256 (hex) of the party's signature record.
    pub signature_sha256: String,
}

impl Document {
    /// A document with a title and nothing else.
    pub fn new(title: impl Into<String>) -> Self {
        Document {
            title: title.into(),
            metadata: Metadata::default(),
            sections: Vec::new(),
        }
    }

    /// Appends a section.
    pub fn section(mut self, section: Section) -> Self {
        self.sections.push(section);
        self
    }
}

impl Section {
    pub fn new(id: impl Into<String>, title: Option<&str>) -> Self {
        Section {
            id: id.into(),
            title: title.map(str::to_string),
            blocks: Vec::new(),
        }
    }

    /// Appends a block.
    pub fn block(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }
}

impl Block {
    pub fn paragraph(text: impl Into<String>) -> Self {
        Block::Paragraph { text: text.into() }
    }

    pub fn heading(level: u8, text: impl Into<String>) -> Self {
        Block::Heading {
            level,
            text: text.into(),
        }
    }

    /// The block as plain text, for diffs and search (a table row per line, cells by ` | `).
    pub fn plain_text(&self) -> String {
        match self {
            Block::Heading { text, .. } | Block::Paragraph { text } => text.clone(),
            Block::List { ordered, items } => items
                .iter()
                .enumerate()
                .map(|(i, it)| match ordered {
                    true => format!("{}. {it}", i + 1),
                    false => format!("- {it}"),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Table(t) => std::iter::once(&t.header)
                .chain(t.rows.iter())
                .map(|r| r.join(" | "))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Image { caption, png, .. } => format!(
                "[image {}{}]",
                &png.sha256()[..12],
                caption
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ),
            Block::PageBreak => String::new(),
            Block::Certificate(c) => std::iter::once(format!("{} {}", c.title, c.document_sha256))
                .chain(c.parties.iter().map(|p| {
                    format!(
                        "{} <{}> {} {} {}",
                        p.name, p.email, p.role, p.signed_at, p.signature_sha256
                    )
                }))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

impl Section {
    /// The section as plain text: its title, then each block, separated by blank lines.
    pub fn plain_text(&self) -> String {
        self.title
            .iter()
            .cloned()
            .chain(
                self.blocks
                    .iter()
                    .map(Block::plain_text)
                    .filter(|t| !t.is_empty()),
            )
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}
