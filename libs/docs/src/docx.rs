//! DOCX through docx-rs: the same document model, with heading styles, tables (header row
//! bold), images, the logo in the page header and "Page N of M" in the footer.
use docx_rs::{
    AlignmentType, BreakType, Docx, Footer, Header, NumPages, PageNum, Paragraph, Pic, Run, Style,
    StyleType, Table, TableCell, TableRow, WidthType,
};

use crate::{
    Limits, Rendered,
    error::DocError,
    image::Png,
    model::{Block, Certificate, Document},
};

const MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
/// English Metric Units per millimetre.
const EMU_PER_MM: f32 = 36_000.0;
/// The text width of an A4 page with 2 cm margins.
const TEXT_WIDTH_MM: f32 = 170.0;

/// Renders `doc` as DOCX, after checking it against `limits`.
pub fn render(doc: &Document, limits: &Limits) -> Result<Rendered, DocError> {
    limits.check(doc)?;
    let mut docx = styles(Docx::new())
        .page_size(11_906, 16_838)
        .footer(footer())
        .add_paragraph(
            Paragraph::new()
                .style("Title")
                .add_run(Run::new().add_text(&doc.title)),
        );
    if let Some(logo) = &doc.metadata.logo {
        docx = docx.header(header(logo, doc.metadata.reference.as_deref())?);
    }
    let m = &doc.metadata;
    let byline: Vec<&str> = [&m.subject, &m.author, &m.date]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    if !byline.is_empty() {
        docx = docx.add_paragraph(text_paragraph(&byline.join(" · ")));
    }
    for s in &doc.sections {
        if let Some(t) = &s.title {
            docx = docx.add_paragraph(heading(1, t));
        }
        for b in &s.blocks {
            docx = block(docx, b)?;
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    docx.build()
        .pack(&mut out)
        .map_err(|e| DocError::Docx(e.to_string()))?;
    Ok(Rendered::new(out.into_inner(), MEDIA_TYPE, None))
}

fn block(docx: Docx, b: &Block) -> Result<Docx, DocError> {
    Ok(match b {
        Block::Heading { level, text } => docx.add_paragraph(heading(*level, text)),
        Block::Paragraph { text } => docx.add_paragraph(text_paragraph(text)),
        Block::List { ordered, items } => items.iter().enumerate().fold(docx, |d, (i, it)| {
            let marker = match ordered {
                true => format!("{}. ", i + 1),
                false => "• ".to_string(),
            };
            d.add_paragraph(text_paragraph(&format!("{marker}{it}")))
        }),
        Block::Table(t) => docx.add_table(table(&t.header, &t.rows)),
        Block::Image {
            png,
            width_mm,
            caption,
        } => {
            let d = docx.add_paragraph(
                Paragraph::new().add_run(Run::new().add_image(picture(png, *width_mm, None)?)),
            );
            match caption {
                Some(c) => d.add_paragraph(text_paragraph(c)),
                None => d,
            }
        }
        Block::PageBreak => {
            docx.add_paragraph(Paragraph::new().add_run(Run::new().add_break(BreakType::Page)))
        }
        Block::Certificate(c) => certificate(docx, c),
    })
}

fn certificate(docx: Docx, c: &Certificate) -> Docx {
    let rows: Vec<Vec<String>> = c
        .parties
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.email.clone(),
                p.role.clone(),
                p.signed_at.clone(),
                p.signature_sha256.clone(),
            ]
        })
        .collect();
    let header = ["Party", "Email", "Role", "Signed at", "Signature SHA-256"].map(String::from);
    docx.add_paragraph(heading(1, &c.title).page_break_before(true))
        .add_paragraph(text_paragraph(&format!(
            "Document SHA-256: {}",
            c.document_sha256
        )))
        .add_table(table_sized(&header, &rows, &CERTIFICATE_COLUMNS, Some(16)))
}

/// Column widths of the certificate table in twentieths of a point (170 mm in all), wide
/// enough for an RFC 3339 time on one line at 8 pt.
const CERTIFICATE_COLUMNS: [usize; 5] = [1_500, 2_100, 900, 2_300, 2_838];

fn table(header: &[String], rows: &[Vec<String>]) -> Table {
    table_sized(header, rows, &[], None)
}

/// A table; `widths` (twips) fixes the columns when given, `size` (half-points) the text.
fn table_sized(
    header: &[String],
    rows: &[Vec<String>],
    widths: &[usize],
    size: Option<usize>,
) -> Table {
    let cell = |i: usize, text: &str, bold: bool| {
        let mut run = Run::new().add_text(text);
        if let Some(s) = size {
            run = run.size(s);
        }
        let c = TableCell::new().add_paragraph(Paragraph::new().add_run(if bold {
            run.bold()
        } else {
            run
        }));
        match widths.get(i) {
            Some(w) => c.width(*w, WidthType::Dxa),
            None => c,
        }
    };
    let head = TableRow::new(
        header
            .iter()
            .enumerate()
            .map(|(i, h)| cell(i, h, true))
            .collect(),
    );
    let body = rows.iter().map(|r| {
        TableRow::new(
            r.iter()
                .enumerate()
                .map(|(i, c)| cell(i, c, false))
                .collect(),
        )
    });
    let t = Table::new(std::iter::once(head).chain(body).collect());
    match widths.is_empty() {
        true => t,
        false => t.set_grid(widths.to_vec()),
    }
}

fn picture(png: &Png, width_mm: Option<f32>, height_mm: Option<f32>) -> Result<Pic, DocError> {
    let (w, h) = png.dimensions()?;
    let ratio = h as f32 / w as f32;
    let (wmm, hmm) = match (width_mm, height_mm) {
        (_, Some(hmm)) => (hmm / ratio, hmm),
        (Some(wmm), None) => (wmm, wmm * ratio),
        // At 96 dpi, as a browser shows it, but never wider than the text.
        (None, None) => {
            let wmm = (w as f32 * 25.4 / 96.0).min(TEXT_WIDTH_MM);
            (wmm, wmm * ratio)
        }
    };
    Ok(Pic::new_with_dimensions(png.0.clone(), w, h)
        .size((wmm * EMU_PER_MM) as u32, (hmm * EMU_PER_MM) as u32))
}

fn header(logo: &Png, reference: Option<&str>) -> Result<Header, DocError> {
    let mut p = Paragraph::new().align(AlignmentType::Right);
    if let Some(r) = reference {
        p = p.add_run(Run::new().size(16).add_text(format!("{r}  ")));
    }
    Ok(
        Header::new().add_paragraph(p.add_run(Run::new().add_image(picture(
            logo,
            None,
            Some(10.0),
        )?))),
    )
}

fn footer() -> Footer {
    Footer::new().add_paragraph(
        Paragraph::new()
            .align(AlignmentType::Center)
            .add_run(Run::new().size(16).add_text("Page "))
            .add_page_num(PageNum::new())
            .add_run(Run::new().size(16).add_text(" of "))
            .add_num_pages(NumPages::new()),
    )
}

fn heading(level: u8, text: &str) -> Paragraph {
    Paragraph::new()
        .style(&format!("Heading{}", level.clamp(1, 4)))
        .add_run(Run::new().add_text(text))
}

/// A paragraph whose line breaks are kept.
fn text_paragraph(text: &str) -> Paragraph {
    let mut run = Run::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            run = run.add_break(BreakType::TextWrapping);
        }
        run = run.add_text(line);
    }
    Paragraph::new().add_run(run)
}

fn styles(docx: Docx) -> Docx {
    let sizes = [("Title", "Title", 40), ("Heading1", "Heading 1", 32)]
        .into_iter()
        .chain([("Heading2", "Heading 2", 26), ("Heading3", "Heading 3", 23)])
        .chain([("Heading4", "Heading 4", 21)]);
    sizes.fold(docx, |d, (id, name, half_points)| {
        d.add_style(
            Style::new(id, StyleType::Paragraph)
                .name(name)
                .size(half_points)
                .bold(),
        )
    })
}
