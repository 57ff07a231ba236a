//! Documents the tests render.
use docs::{Block, Certificate, Document, Metadata, Party, Png, Section, Table};

pub const LOGO: &[u8] = include_bytes!("fixtures/logo.png");

pub fn logo() -> Png {
    Png(LOGO.to_vec())
}

pub fn hash(seed: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(seed.as_bytes()))
}

/// A short proposal: every kind of block, the logo and a certificate page.
pub fn proposal() -> Document {
    let mut doc = Document::new("Proposal for Acme Industries");
    doc.metadata = Metadata {
        author: Some("Dana Whitfield".into()),
        subject: Some("Warehouse automation".into()),
        reference: Some("PRP-2024-0042".into()),
        date: Some("3 March 2025".into()),
        logo: Some(logo()),
    };
    doc.section(
        Section::new("summary", Some("Executive summary"))
            .block(Block::paragraph(
                "Acme Industries asked for a plan to automate its two warehouses.",
            ))
            .block(Block::heading(2, "Scope"))
            .block(Block::List {
                ordered: false,
                items: vec!["Conveyor retrofit".into(), "Picking robots".into()],
            }),
    )
    .section(
        Section::new("pricing", Some("Pricing")).block(Block::Table(Table {
            header: vec!["Item".into(), "Quantity".into(), "Price".into()],
            rows: vec![
                vec!["Conveyor module".into(), "12".into(), "EUR 48,000".into()],
                vec!["Picking robot".into(), "4".into(), "EUR 260,000".into()],
            ],
        })),
    )
    .section(Section::new("logo", None).block(Block::Image {
        png: logo(),
        width_mm: Some(40.0),
        caption: Some("Acme's site plan".into()),
    }))
    .section(Section::new("signatures", None).block(Block::Certificate(certificate())))
}

pub fn certificate() -> Certificate {
    Certificate {
        title: "Certificate of completion".into(),
        document_sha256: hash("the signed document"),
        parties: vec![
            Party {
                name: "Dana Whitfield".into(),
                email: "dana@acme.com".into(),
                role: "Client".into(),
                signed_at: "2025-03-03T10:15:00Z".into(),
                signature_sha256: hash("dana"),
            },
            Party {
                name: "Lee Okafor".into(),
                email: "lee@vendor.io".into(),
                role: "Vendor".into(),
                signed_at: "2025-03-03T11:02:00Z".into(),
                signature_sha256: hash("lee"),
            },
        ],
    }
}

/// A table of `rows` rows (about 38 per A4 page).
pub fn long_table(rows: usize) -> Document {
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
    Document::new("Price schedule").section(Section::new("schedule", Some("Schedule")).block(
        Block::Table(Table {
            header: vec![
                "Description".into(),
                "Units".into(),
                "Amount".into(),
                "Delivery".into(),
            ],
            rows,
        }),
    ))
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
