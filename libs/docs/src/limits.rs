//! Caps on what one document may hold, checked before any renderer runs, so a hostile or
//! mistaken document is refused with a [`DocError::TooLarge`] instead of exhausting the process.
use crate::{
    error::DocError,
    model::{Block, Document},
};

/// The caps; [`Limits::default`] suits generated business documents (a 200-page proposal fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_sections: usize,
    pub max_blocks: usize,
    /// Bytes of text in all strings together.
    pub max_text_bytes: usize,
    pub max_table_cells: usize,
    pub max_image_bytes: usize,
    pub max_images: usize,
    /// Bytes of one string (a title, a paragraph, a cell).
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sections: 1_000,
            max_blocks: 20_000,
            max_text_bytes: 4 << 20,
            max_table_cells: 100_000,
            max_image_bytes: 5 << 20,
            max_images: 50,
            max_string_bytes: 64 << 10,
        }
    }
}

#[derive(Default)]
struct Tally {
    blocks: usize,
    text: usize,
    cells: usize,
    images: usize,
}

impl Limits {
    /// Checks `doc` against the caps and its own consistency (ids, heading levels, table widths,
    /// images).
    pub fn check(&self, doc: &Document) -> Result<(), DocError> {
        cap("sections", doc.sections.len(), self.max_sections)?;
        let mut t = Tally::default();
        self.string("title", &doc.title, &mut t)?;
        if let Some(logo) = &doc.metadata.logo {
            self.image("metadata.logo", logo, &mut t)?;
        }
        let mut ids = std::collections::HashSet::new();
        for (i, s) in doc.sections.iter().enumerate() {
            let at = format!("sections[{i}]");
            if s.id.is_empty() || s.id.len() > 128 {
                return Err(invalid(&at, "a section id is 1 to 128 characters"));
            }
            if !ids.insert(s.id.as_str()) {
                return Err(invalid(&at, &format!("section id `{}` is repeated", s.id)));
            }
            if let Some(title) = &s.title {
                self.string(&at, title, &mut t)?;
            }
            for (j, b) in s.blocks.iter().enumerate() {
                self.block(&format!("{at}.blocks[{j}]"), b, &mut t)?;
            }
        }
        cap("blocks", t.blocks, self.max_blocks)?;
        cap("bytes of text", t.text, self.max_text_bytes)?;
        cap("table cells", t.cells, self.max_table_cells)?;
        cap("images", t.images, self.max_images)
    }

    fn block(&self, at: &str, b: &Block, t: &mut Tally) -> Result<(), DocError> {
        t.blocks += 1;
        match b {
            Block::Heading { level, text } => {
                if !(2..=4).contains(level) {
                    return Err(invalid(at, "a heading's level is 2, 3 or 4"));
                }
                self.string(at, text, t)
            }
            Block::Paragraph { text } => self.string(at, text, t),
            Block::List { items, .. } => items.iter().try_for_each(|i| self.string(at, i, t)),
            Block::Table(table) => {
                if table.header.is_empty() || table.header.len() > 20 {
                    return Err(invalid(at, "a table has 1 to 20 columns"));
                }
                for (r, row) in table.rows.iter().enumerate() {
                    if row.len() != table.header.len() {
                        return Err(invalid(
                            &format!("{at}.rows[{r}]"),
                            &format!("{} cells, the header has {}", row.len(), table.header.len()),
                        ));
                    }
                }
                t.cells += table.header.len() * (table.rows.len() + 1);
                cap("table cells", t.cells, self.max_table_cells)?;
                let mut cells = table.header.iter().chain(table.rows.iter().flatten());
                cells.try_for_each(|c| self.string(at, c, t))
            }
            Block::Image {
                png,
                width_mm,
                caption,
            } => {
                if width_mm.is_some_and(|w| !(1.0..=400.0).contains(&w)) {
                    return Err(invalid(at, "an image's width is 1 to 400 mm"));
                }
                if let Some(c) = caption {
                    self.string(at, c, t)?;
                }
                self.image(at, png, t)
            }
            Block::PageBreak => Ok(()),
            Block::Certificate(c) => {
                if c.parties.is_empty() || c.parties.len() > 50 {
                    return Err(invalid(at, "a certificate names 1 to 50 parties"));
                }
                let fields = c.parties.iter().flat_map(|p| {
                    [
                        &p.name,
                        &p.email,
                        &p.role,
                        &p.signed_at,
                        &p.signature_sha256,
                    ]
                });
                std::iter::once(&c.title)
                    .chain(std::iter::once(&c.document_sha256))
                    .chain(fields)
                    .try_for_each(|s| self.string(at, s, t))
            }
        }
    }

    fn string(&self, at: &str, s: &str, t: &mut Tally) -> Result<(), DocError> {
        if s.len() > self.max_string_bytes {
            return Err(invalid(
                at,
                &format!(
                    "a text of {} bytes, at most {}",
                    s.len(),
                    self.max_string_bytes
                ),
            ));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(invalid(at, "control characters in text"));
        }
        t.text += s.len();
        Ok(())
    }

    fn image(&self, at: &str, png: &crate::Png, t: &mut Tally) -> Result<(), DocError> {
        t.images += 1;
        if png.0.len() > self.max_image_bytes {
            return Err(invalid(
                at,
                &format!(
                    "an image of {} bytes, at most {}",
                    png.0.len(),
                    self.max_image_bytes
                ),
            ));
        }
        png.dimensions().map_err(|e| invalid(at, &e.to_string()))?;
        Ok(())
    }
}

fn cap(what: &'static str, actual: usize, limit: usize) -> Result<(), DocError> {
    match actual > limit {
        true => Err(DocError::TooLarge {
            what,
            actual,
            limit,
        }),
        false => Ok(()),
    }
}

fn invalid(at: &str, reason: &str) -> DocError {
    DocError::Invalid {
        at: at.to_string(),
        reason: reason.to_string(),
    }
}
