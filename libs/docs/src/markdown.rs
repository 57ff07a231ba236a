//! Markdown: the document model written as CommonMark (with GFM tables), and Markdown parsed
//! into blocks so a section can be written in it (e.g. the output of a Markdown template).
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::{
    Limits, Rendered,
    error::DocError,
    escape,
    model::{Block, Document, Section, Table},
};

/// Renders `doc` as Markdown, after checking it against `limits`. Images are written as
/// references to their SHA-256 (`![caption](sha256:…)`): the bytes live beside the document.
pub fn render(doc: &Document, limits: &Limits) -> Result<Rendered, DocError> {
    limits.check(doc)?;
    Ok(Rendered::new(
        to_markdown(doc).into_bytes(),
        "text/markdown; charset=utf-8",
        None,
    ))
}

/// The Markdown text of `doc` (every user string escaped, so it reads back literally).
pub fn to_markdown(doc: &Document) -> String {
    let mut out = format!("# {}\n\n", escape::markdown(&doc.title));
    let m = &doc.metadata;
    let byline: Vec<String> = [&m.subject, &m.author, &m.date, &m.reference]
        .into_iter()
        .filter_map(|v| v.as_deref().map(escape::markdown))
        .collect();
    if !byline.is_empty() {
        out.push_str(&format!("{}\n\n", byline.join(" · ")));
    }
    for s in &doc.sections {
        if let Some(t) = &s.title {
            out.push_str(&format!("## {}\n\n", escape::markdown(t)));
        }
        for b in &s.blocks {
            out.push_str(&block(b, 2));
        }
    }
    out
}

/// A section's blocks as Markdown written on their own (a level-2 heading is `#`):
/// [`parse_blocks`] reads it back as the same blocks.
pub fn section_body(section: &Section) -> String {
    section.blocks.iter().map(|b| block(b, 0)).collect()
}

/// `deeper`: how many levels below their own the headings are written (in a whole document,
/// under `#` for the title and `##` for section titles, a level-2 heading is `###`).
fn block(b: &Block, deeper: usize) -> String {
    match b {
        Block::Heading { level, text } => format!(
            "{} {}\n\n",
            "#".repeat(usize::from(*level).saturating_sub(1) + deeper),
            escape::markdown(text)
        ),
        Block::Paragraph { text } => format!("{}\n\n", paragraph(text)),
        Block::List { ordered, items } => {
            let lines: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, it)| match ordered {
                    true => format!("{}. {}", i + 1, escape::markdown(it)),
                    false => format!("- {}", escape::markdown(it)),
                })
                .collect();
            format!("{}\n\n", lines.join("\n"))
        }
        Block::Table(t) => table(&t.header, &t.rows),
        Block::Image { png, caption, .. } => format!(
            "![{}](sha256:{})\n\n",
            escape::markdown(caption.as_deref().unwrap_or("")),
            png.sha256()
        ),
        Block::PageBreak => "<div style=\"page-break-after: always\"></div>\n\n".into(),
        Block::Certificate(c) => {
            let rows: Vec<Vec<String>> = c
                .parties
                .iter()
                .map(|p| {
                    [
                        &p.name,
                        &p.email,
                        &p.role,
                        &p.signed_at,
                        &p.signature_sha256,
                    ]
                    .map(|s| s.to_string())
                    .to_vec()
                })
                .collect();
            let header =
                ["Party", "Email", "Role", "Signed at", "Signature SHA-256"].map(String::from);
            format!(
                "## {}\n\nDocument SHA-256: `{}`\n\n{}",
                escape::markdown(&c.title),
                c.document_sha256.replace('`', ""),
                table(&header, &rows)
            )
        }
    }
}

/// A paragraph keeping its line breaks (a backslash at the end of a line is a hard break).
fn paragraph(text: &str) -> String {
    text.split('\n')
        .map(escape::markdown)
        .collect::<Vec<_>>()
        .join("\\\n")
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let row = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| escape::markdown(c)).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let rule = format!("|{}\n", " --- |".repeat(header.len()));
    let body: String = rows.iter().map(|r| row(r)).collect();
    format!("{}{rule}{body}\n", row(header))
}

/// Parses Markdown into blocks: headings (`#` is level 2, `##` level 3, deeper ones level 4),
/// paragraphs, lists (one level; nested items are flattened into their parent's text),
/// GFM tables and `---` as a page break. Inline formatting is kept as its text; images and raw
/// HTML are refused (images are image blocks, with their bytes).
pub fn parse_blocks(markdown: &str) -> Result<Vec<Block>, DocError> {
    let mut p = Builder::default();
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).into_offset_iter();
    for (event, range) in events {
        let line = markdown[..range.start].matches('\n').count() + 1;
        p.event(event, line)?;
    }
    Ok(p.blocks)
}

#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    text: String,
    items: Vec<String>,
    ordered: bool,
    list_depth: usize,
    table: Option<Table>,
    row: Vec<String>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, line: usize) -> Result<(), DocError> {
        match event {
            Event::Text(t) | Event::Code(t) => self.text.push_str(&t),
            Event::SoftBreak => self.text.push(' '),
            Event::HardBreak => self.text.push('\n'),
            Event::Rule => self.blocks.push(Block::PageBreak),
            Event::Html(_) | Event::InlineHtml(_) => {
                return Err(refused(line, "raw HTML is not part of a document"));
            }
            Event::Start(Tag::Image { .. }) => {
                return Err(refused(line, "images are image blocks, not Markdown"));
            }
            Event::Start(Tag::List(first)) => {
                self.list_depth += 1;
                if self.list_depth == 1 {
                    self.ordered = first.is_some();
                }
            }
            // A nested item's text is appended to its parent's, a space apart.
            Event::Start(Tag::Item) if self.list_depth > 1 && !self.text.is_empty() => {
                self.text.push(' ')
            }
            Event::Start(Tag::Table(_)) => {
                self.table = Some(Table {
                    header: Vec::new(),
                    rows: Vec::new(),
                })
            }
            Event::End(end) => self.end(end),
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, end: TagEnd) {
        use TagEnd as E;
        let block_end = matches!(
            end,
            E::Heading(_)
                | E::Paragraph
                | E::Item
                | E::List(_)
                | E::TableCell
                | E::TableHead
                | E::TableRow
                | E::Table
                | E::CodeBlock
                | E::BlockQuote(_)
        );
        // Inline ends (emphasis, links) keep gathering the paragraph's text.
        if !block_end {
            return;
        }
        let text = std::mem::take(&mut self.text).trim().to_string();
        match end {
            TagEnd::Heading(level) => {
                let level = match level {
                    HeadingLevel::H1 => 2,
                    HeadingLevel::H2 => 3,
                    _ => 4,
                };
                self.blocks.push(Block::Heading { level, text });
            }
            TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::BlockQuote(_)
                if self.list_depth == 0 && !text.is_empty() =>
            {
                self.blocks.push(Block::Paragraph { text })
            }
            // Text of a nested item or a paragraph inside an item joins the item being built.
            TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::BlockQuote(_) => self.text = text,
            TagEnd::Item if self.list_depth == 1 => self.items.push(text),
            TagEnd::Item => self.text = text,
            TagEnd::List(_) => {
                self.list_depth -= 1;
                if self.list_depth == 0 {
                    self.blocks.push(Block::List {
                        ordered: self.ordered,
                        items: std::mem::take(&mut self.items),
                    });
                } else {
                    self.text = text;
                }
            }
            TagEnd::TableCell => self.row.push(text),
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    t.header = std::mem::take(&mut self.row);
                }
            }
            TagEnd::TableRow => {
                if let Some(t) = &mut self.table {
                    t.rows.push(std::mem::take(&mut self.row));
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    self.blocks.push(Block::Table(t));
                }
            }
            _ => {}
        }
    }
}

fn refused(line: usize, reason: &str) -> DocError {
    DocError::Markdown {
        line,
        reason: reason.to_string(),
    }
}
