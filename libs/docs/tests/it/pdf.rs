use crate::Refused as _;
use docs::{Block, DocError, Document, Limits, Png, Section, Table, pdf};

use crate::{readers::*, sample};

fn render(
    doc: &Document,
    tag: &str,
) -> anyhow::Result<(docs::Rendered, Scratch, std::path::PathBuf)> {
    let out = pdf::render(doc, &Limits::default())?;
    let dir = Scratch::new(tag)?;
    let path = dir.write("doc.pdf", &out.bytes)?;
    Ok((out, dir, path))
}

#[test]
fn a_proposal_renders_to_a_pdf_poppler_reads_back() -> anyhow::Result<()> {
    let (out, _dir, path) = render(&sample::proposal(), "proposal")?;
    let text = squash(&pdftotext(&path, None)?);
    for expected in [
        "Proposal for Acme Industries",
        "Warehouse automation · Dana Whitfield · 3 March 2025",
        "PRP-2024-0042",
        "Executive summary",
        "Acme Industries asked for a plan to automate its two warehouses.",
        "Conveyor retrofit",
        "Item Quantity Price",
        "Picking robot 4 EUR 260,000",
        "Acme's site plan",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
    assert_eq!(out.media_type, "application/pdf");
    assert_eq!(Some(pdf_pages(&path)?), out.pages);
    assert_eq!(
        pdf_info(&path, "Title")?.as_deref(),
        Some("Proposal for Acme Industries")
    );
    assert_eq!(out.sha256, sample::hash_bytes(&out.bytes));
    // The logo in the header of each page and the image block.
    assert!(pdf_images(&path)? >= 2, "logo and image drawn");
    Ok(())
}

#[test]
fn every_font_in_the_pdf_is_embedded() -> anyhow::Result<()> {
    let (_, _dir, path) = render(&sample::proposal(), "fonts")?;
    let fonts = pdf_fonts(&path)?;
    assert!(!fonts.is_empty(), "pdffonts lists the fonts");
    assert!(fonts.iter().all(|(_, emb)| *emb), "all embedded: {fonts:?}");
    assert!(
        fonts.iter().any(|(n, _)| n.contains("Libertinus")),
        "{fonts:?}"
    );
    Ok(())
}

#[test]
fn a_twenty_page_table_repeats_its_header_and_counts_pages_of_the_total() -> anyhow::Result<()> {
    let (out, _dir, path) = render(&sample::long_table(760), "long")?;
    let pages = pdf_pages(&path)?;
    assert!(pages >= 18, "760 rows fill about 20 pages, got {pages}");
    assert_eq!(out.pages, Some(pages));
    for page in [1, 2, pages / 2, pages] {
        let text = squash(&pdftotext(&path, Some(page))?);
        assert!(
            text.contains("Description Units Amount Delivery"),
            "header row on page {page}: {text}"
        );
        assert!(
            text.contains(&format!("Page {page} of {pages}")),
            "footer on page {page}"
        );
    }
    let all = squash(&pdftotext(&path, None)?);
    assert!(
        all.contains("Line item 760 2280 EUR 95000.00"),
        "last row present"
    );
    Ok(())
}

#[test]
fn the_certificate_page_lists_each_party_with_times_and_hashes() -> anyhow::Result<()> {
    let (out, _dir, path) = render(&sample::proposal(), "certificate")?;
    let last = out.pages.unwrap_or(1);
    let text = squash(&pdftotext(&path, Some(last))?);
    let cert = sample::certificate();
    assert!(text.contains("Certificate of completion"), "{text}");
    assert!(
        text.contains(&cert.document_sha256),
        "document hash on one line: {text}"
    );
    for p in &cert.parties {
        for field in [&p.name, &p.email, &p.role, &p.signed_at] {
            assert!(
                text.contains(field.as_str()),
                "{field} on the certificate page"
            );
        }
        let (a, b) = p.signature_sha256.split_at(32);
        assert!(
            text.contains(a) && text.contains(b),
            "signature hash halves"
        );
    }
    // The certificate starts a page of its own.
    assert!(!text.contains("Executive summary"));
    Ok(())
}

#[test]
fn markup_in_user_data_is_printed_literally() -> anyhow::Result<()> {
    let hostile = r#"#set page(width: 1cm) <script>alert(1)</script> $x^2$ *bold* _it_ @ref #{1+1} \ // not a comment"#;
    let doc = Document::new(hostile).section(
        Section::new("s", Some(hostile))
            .block(Block::paragraph(hostile))
            .block(Block::Table(Table {
                header: vec![hostile.into()],
                rows: vec![vec!["= not a heading".into()]],
            })),
    );
    let (out, _dir, path) = render(&doc, "literal")?;
    let text = pdftotext(&path, None)?;
    let flat = squash(&text);
    // Printed three times at least (title, heading, paragraph), never evaluated.
    assert!(flat.matches(&squash(hostile)).count() >= 3, "{flat}");
    assert!(flat.contains("= not a heading"));
    assert_eq!(out.pages, Some(1), "the page width was not changed");
    Ok(())
}

#[test]
fn the_same_document_renders_to_the_same_bytes_and_hash() -> anyhow::Result<()> {
    let a = pdf::render(&sample::proposal(), &Limits::default())?;
    let b = pdf::render(&sample::proposal(), &Limits::default())?;
    assert_eq!(a.sha256, b.sha256);
    let mut changed = sample::proposal();
    changed.title.push('!');
    let c = pdf::render(&changed, &Limits::default())?;
    assert_ne!(a.sha256, c.sha256);
    Ok(())
}

#[test]
fn an_oversized_document_is_refused_before_typesetting() {
    let many = (0..1_001).fold(Document::new("big"), |d, i| {
        d.section(Section::new(format!("s{i}"), None))
    });
    let err = pdf::render(&many, &Limits::default()).refused();
    assert!(
        matches!(
            err,
            DocError::TooLarge {
                what: "sections",
                actual: 1_001,
                limit: 1_000
            }
        ),
        "{err:?}"
    );
    assert!(err.is_input());

    let long = Document::new("long")
        .section(Section::new("s", None).block(Block::paragraph("x".repeat(70_000))));
    let err = pdf::render(&long, &Limits::default()).refused();
    assert!(
        matches!(&err, DocError::Invalid { at, .. } if at == "sections[0].blocks[0]"),
        "{err:?}"
    );

    let tight = Limits {
        max_table_cells: 100,
        ..Limits::default()
    };
    let err = pdf::render(&sample::long_table(100), &tight).refused();
    assert!(
        matches!(
            err,
            DocError::TooLarge {
                what: "table cells",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn malformed_blocks_are_typed_errors_naming_where() {
    let ragged = Document::new("t").section(Section::new("a", None).block(Block::Table(Table {
        header: vec!["one".into(), "two".into()],
        rows: vec![vec!["only one".into()]],
    })));
    let err = pdf::render(&ragged, &Limits::default()).refused();
    assert!(
        matches!(&err, DocError::Invalid { at, .. } if at == "sections[0].blocks[0].rows[0]"),
        "{err:?}"
    );

    let not_png = Document::new("t").section(Section::new("a", None).block(Block::Image {
        png: Png(b"GIF89a not a png at all, really not".to_vec()),
        width_mm: None,
        caption: None,
    }));
    let err = pdf::render(&not_png, &Limits::default()).refused();
    assert!(
        matches!(&err, DocError::Invalid { reason, .. } if reason.contains("not a PNG")),
        "{err:?}"
    );

    let mut huge = sample::LOGO.to_vec();
    huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    let err = pdf::render(
        &Document::new("t").section(Section::new("a", None).block(Block::Image {
            png: Png(huge),
            width_mm: None,
            caption: None,
        })),
        &Limits::default(),
    )
    .refused();
    assert!(matches!(&err, DocError::Invalid { reason, .. } if reason.contains("larger than")));

    let dup = Document::new("t")
        .section(Section::new("a", None))
        .section(Section::new("a", None));
    assert!(matches!(
        pdf::render(&dup, &Limits::default()),
        Err(DocError::Invalid { .. })
    ));
    let level = Document::new("t").section(Section::new("a", None).block(Block::heading(9, "x")));
    assert!(matches!(
        pdf::render(&level, &Limits::default()),
        Err(DocError::Invalid { .. })
    ));
}
