//! `docs`: a 20-page PDF of tables (typst, embedded fonts) — render time and size — beside the
//! same document as DOCX and Markdown.
use std::time::{Duration, Instant};

use ::docs::{Block, Document, Limits, Section, Table};

fn schedule(rows: usize) -> Document {
    let rows = (1..=rows)
        .map(|i| {
            vec![
                format!("Line item {i}"),
                format!("{}", i * 3),
                format!("EUR {}.00", i * 125),
                format!("Delivery in week {}", i % 52 + 1),
            ]
        })
        .collect();
    Document::new("Price schedule").section(
        Section::new("schedule", Some("Schedule"))
            .block(Block::paragraph("Prices are in euros, excluding VAT."))
            .block(Block::Table(Table {
                header: ["Description", "Units", "Amount", "Delivery"]
                    .map(String::from)
                    .to_vec(),
                rows,
            })),
    )
}

fn timed<T>(
    n: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<Duration>, T)> {
    let mut times = Vec::with_capacity(n);
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times, last.ok_or_else(|| anyhow::anyhow!("no run"))?))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

pub fn run(_rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    println!("\n## docs: a 20-page PDF of tables (760 rows × 4 columns)");
    let doc = schedule(760);
    let limits = Limits::default();
    let first = Instant::now();
    let out = ::docs::pdf::render(&doc, &limits)?;
    println!(
        "first render (parses the embedded fonts): {:.1} ms, {} pages",
        ms(first.elapsed()),
        out.pages.unwrap_or(0)
    );
    let (t, out) = timed(10, || Ok(::docs::pdf::render(&doc, &limits)?))?;
    println!(
        "PDF: p50 {:.1} ms, min {:.1}, max {:.1} (10 runs; target < 500 ms); {} pages, {} KiB, sha256 {}…",
        ms(t[t.len() / 2]),
        ms(t[0]),
        ms(t[t.len() - 1]),
        out.pages.unwrap_or(0),
        out.bytes.len() / 1024,
        &out.sha256[..12]
    );
    let (t, out) = timed(10, || Ok(::docs::docx::render(&doc, &limits)?))?;
    println!(
        "DOCX: p50 {:.1} ms, {} KiB",
        ms(t[t.len() / 2]),
        out.bytes.len() / 1024
    );
    let (t, out) = timed(10, || Ok(::docs::markdown::render(&doc, &limits)?))?;
    println!(
        "Markdown: p50 {:.2} ms, {} KiB",
        ms(t[t.len() / 2]),
        out.bytes.len() / 1024
    );
    Ok(())
}
