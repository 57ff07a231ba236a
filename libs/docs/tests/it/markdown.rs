use crate::Refused as _;
use docs::{Block, DocError, Document, Escape, Limits, Renderer, Section, Table, markdown, pdf};

use crate::{readers::*, sample};

#[test]
fn a_document_written_as_markdown_reads_back_as_the_same_blocks() -> anyhow::Result<()> {
    let blocks = vec![
        Block::heading(2, "Terms & *conditions*"),
        Block::paragraph("Price: 5 * 3 = 15 [not a link](x) <b>not bold</b> # not a heading"),
        Block::List {
            ordered: true,
            items: vec!["First - one".into(), "Second_two".into()],
        },
        Block::Table(Table {
            header: vec!["a|b".into(), "c".into()],
            rows: vec![vec!["1. x".into(), "`y`".into()]],
        }),
    ];
    let section = blocks
        .iter()
        .cloned()
        .fold(Section::new("s", Some("Terms")), Section::block);
    let body = markdown::section_body(&section);
    assert_eq!(markdown::parse_blocks(&body)?, blocks, "from {body}");
    let doc = Document::new("T").section(section);
    let text = markdown::to_markdown(&doc);
    assert!(
        text.starts_with("# T\n\n## Terms\n\n### Terms \\& \\*conditions\\*\n\n"),
        "{text}"
    );
    let out = markdown::render(&doc, &Limits::default())?;
    assert_eq!(out.bytes, text.as_bytes());
    assert_eq!(out.sha256, sample::hash_bytes(text.as_bytes()));
    Ok(())
}

#[test]
fn markdown_parses_headings_lists_tables_and_breaks() -> anyhow::Result<()> {
    let md = "# Scope\n\nWe *will* deliver **two** things:\n\n- one\n- two\n  - nested\n\n---\n\n| A | B |\n|---|---|\n| 1 | 2 |\n";
    let blocks = markdown::parse_blocks(md)?;
    assert_eq!(
        blocks,
        vec![
            Block::heading(2, "Scope"),
            Block::paragraph("We will deliver two things:"),
            Block::List {
                ordered: false,
                items: vec!["one".into(), "two nested".into()]
            },
            Block::PageBreak,
            Block::Table(Table {
                header: vec!["A".into(), "B".into()],
                rows: vec![vec!["1".into(), "2".into()]],
            }),
        ]
    );
    Ok(())
}

#[test]
fn raw_html_and_images_in_markdown_are_refused_with_the_line() {
    let err = markdown::parse_blocks("fine\n\n<script>alert(1)</script>\n").refused();
    assert!(matches!(err, DocError::Markdown { line: 3, .. }), "{err:?}");
    let err = markdown::parse_blocks("a\n\nb ![x](http://169.254.169.254/)").refused();
    assert!(matches!(err, DocError::Markdown { line: 3, .. }), "{err:?}");
}

/// The pipeline services use: a user-written Markdown template, its values escaped, parsed into
/// a section, typeset: a value full of markup arrives in the PDF as text.
#[test]
fn a_markdown_template_becomes_a_pdf_section_with_values_printed_literally() -> anyhow::Result<()> {
    let template = "# Parties\n\nThis agreement is between {{ client }} and {{ vendor }}.\n\n{% for t in terms %}- {{ t }}\n{% endfor %}";
    let client = "**Acme** <i>Corp</i> #set text(red)";
    let ctx = serde_json::json!({
        "client": client,
        "vendor": "Vendor_Co",
        "terms": ["Confidential for 2 years", "Governed by *Irish* law"],
    });
    let md = Renderer::default().render("nda.md", template, Escape::Markdown, &ctx)?;
    let blocks = markdown::parse_blocks(&md)?;
    assert_eq!(
        blocks[1],
        Block::paragraph(format!("This agreement is between {client} and Vendor_Co."))
    );
    let doc = blocks
        .into_iter()
        .fold(Section::new("parties", None), Section::block);
    let out = pdf::render(&Document::new("NDA").section(doc), &Limits::default())?;
    let dir = Scratch::new("md-pdf")?;
    let text = squash(&pdftotext(&dir.write("nda.pdf", &out.bytes)?, None)?);
    assert!(text.contains(client), "{text}");
    assert!(text.contains("Governed by *Irish* law"), "{text}");
    Ok(())
}
