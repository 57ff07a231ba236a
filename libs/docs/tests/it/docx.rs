use crate::Refused as _;
use docs::{Limits, docx, pdf};

use crate::{readers::*, sample};

/// LibreOffice opens the DOCX and prints the same text as the PDF renderer (up to layout),
/// with the page numbers in the footer.
#[test]
fn a_docx_converted_by_libreoffice_reads_like_the_pdf() -> anyhow::Result<()> {
    let doc = sample::proposal();
    let out = docx::render(&doc, &Limits::default())?;
    assert_eq!(out.sha256, sample::hash_bytes(&out.bytes));
    assert!(out.bytes.starts_with(b"PK"), "a zip package");
    let dir = Scratch::new("docx")?;
    let path = dir.write("proposal.docx", &out.bytes)?;
    let converted = soffice_to_pdf(&path, &dir)?;
    let office = squash(&pdftotext(&converted, None)?);
    // LibreOffice wraps long words in narrow table cells: compare without whitespace.
    let office_tight: String = office.split_whitespace().collect();

    let typeset = pdf::render(&doc, &Limits::default())?;
    let pdf_path = dir.write("typst.pdf", &typeset.bytes)?;
    let typst = squash(&pdftotext(&pdf_path, None)?);
    for expected in [
        "Proposal for Acme Industries",
        "Executive summary",
        "Acme Industries asked for a plan to automate its two warehouses.",
        "Conveyor retrofit",
        "Picking robot",
        "EUR 260,000",
        "Acme's site plan",
        "Certificate of completion",
        "dana@acme.com",
        "2025-03-03T11:02:00Z",
    ] {
        let tight: String = expected.split_whitespace().collect();
        assert!(
            office_tight.contains(&tight),
            "{expected:?} missing from LibreOffice's {office}"
        );
        assert!(
            typst.contains(expected),
            "{expected:?} missing from the PDF's {typst}"
        );
    }
    let pages = pdf_pages(&converted)?;
    assert!(pages >= 2, "the certificate starts a new page");
    assert!(
        office.contains(&format!("Page 1 of {pages}")),
        "footer: {office}"
    );
    assert!(
        office.contains(&format!("Page {pages} of {pages}")),
        "footer on the last page"
    );
    assert!(pdf_images(&converted)? >= 2, "logo and image present");
    Ok(())
}

#[test]
fn an_oversized_docx_is_refused() {
    let tight = Limits {
        max_blocks: 3,
        ..Limits::default()
    };
    let err = docx::render(&sample::proposal(), &tight).refused();
    assert!(
        matches!(err, docs::DocError::TooLarge { what: "blocks", .. }),
        "{err:?}"
    );
}
