//! PDF through typst: one fixed layout (`document.typ`) fed the document as data
//! (`sys.inputs`), fonts embedded in the binary (typst-assets: Libertinus Serif, DejaVu Sans
//! Mono), no file system, no packages, no network.
use std::sync::OnceLock;

use typst::foundations::{Array, Bytes, Dict, IntoValue, Value};
use typst_as_lib::{TypstAsLibError, TypstEngine, TypstTemplateMainFile};
use typst_layout::PagedDocument;

use crate::{
    Limits, Rendered,
    error::DocError,
    model::{Block, Document},
};

const TEMPLATE: &str = include_str!("document.typ");

/// Fonts are parsed once; the engine is immutable afterwards and shared by every render
/// (typst's own memoisation cache is global and evicted after each compile).
fn engine() -> &'static TypstEngine<TypstTemplateMainFile> {
    static ENGINE: OnceLock<TypstEngine<TypstTemplateMainFile>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        TypstEngine::builder()
            .main_file(TEMPLATE)
            .fonts(typst_assets::fonts())
            .build()
    })
}

/// Renders `doc` as a PDF, after checking it against `limits`.
pub fn render(doc: &Document, limits: &Limits) -> Result<Rendered, DocError> {
    limits.check(doc)?;
    let inputs = inputs(doc)?;
    let warned = engine().compile_with_input::<_, PagedDocument>(inputs);
    let paged = warned.output.map_err(describe)?;
    let pages = paged.pages().len();
    let bytes = typst_pdf::pdf(&paged, &typst_pdf::PdfOptions::default()).map_err(|d| {
        DocError::Pdf(
            d.iter()
                .map(|d| d.message.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(Rendered::new(bytes, "application/pdf", Some(pages)))
}

/// `sys.inputs`: `doc` (the document as JSON, each image replaced by its index) and `images`
/// (the PNG bytes).
fn inputs(doc: &Document) -> Result<Dict, DocError> {
    let mut json = serde_json::to_value(doc).map_err(|e| DocError::Pdf(e.to_string()))?;
    let mut images: Vec<Value> = Vec::new();
    let mut add = |png: &crate::Png| {
        images.push(Value::Bytes(Bytes::new(png.0.clone())));
        serde_json::Value::from(images.len() - 1)
    };
    if let Some(logo) = &doc.metadata.logo {
        json["metadata"]["logo"] = add(logo);
    }
    for (i, s) in doc.sections.iter().enumerate() {
        for (j, b) in s.blocks.iter().enumerate() {
            if let Block::Image { png, .. } = b {
                json["sections"][i]["blocks"][j]["png"] = add(png);
            }
        }
    }
    let mut dict = Dict::new();
    dict.insert("doc".into(), json.to_string().into_value());
    dict.insert(
        "images".into(),
        Value::Array(images.into_iter().collect::<Array>()),
    );
    Ok(dict)
}

fn describe(e: TypstAsLibError) -> DocError {
    DocError::Pdf(match e {
        TypstAsLibError::TypstSource(diags) => diags
            .iter()
            .map(|d| d.message.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    })
}
