//! What every vector store must do, written once and run against each backend.
use retrieval::{DocumentMeta, Filter, Hit, RetrievalError, SearchMode};
use serde_json::json;
use uuid::Uuid;

use crate::backend::Backend;

fn doc(title: Option<&str>, url: Option<&str>) -> DocumentMeta {
    DocumentMeta {
        document_id: Uuid::new_v4(),
        source_url: url.map(str::to_owned),
        title: title.map(str::to_owned),
        metadata: serde_json::Map::new(),
    }
}

async fn index_plain(b: &Backend, org: Uuid, text: &str) -> anyhow::Result<Uuid> {
    let d = doc(None, None);
    b.retriever.index(org, &d, text).await?;
    Ok(d.document_id)
}

async fn top(b: &Backend, org: Uuid, q: &str, mode: SearchMode) -> anyhow::Result<Vec<Hit>> {
    Ok(b.retriever
        .search(org, q, 5, mode, Filter::default())
        .await?)
}

pub async fn another_tenants_chunks_are_never_returned(b: &Backend) -> anyhow::Result<()> {
    let (ours, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    let secret = "The acquisition of Northwind by Contoso closes on 14 May for 2.1 billion.";
    let their_doc = index_plain(b, theirs, secret).await?;
    let our_doc = index_plain(b, ours, "Our office moves to Lisbon in the spring.").await?;
    for mode in [SearchMode::Hybrid, SearchMode::Vector, SearchMode::Text] {
        let hits = top(b, ours, "acquisition of Northwind by Contoso", mode).await?;
        assert!(
            hits.iter().all(|h| h.document_id == our_doc),
            "{mode:?}: {hits:?}"
        );
    }
    // Their own search finds it, and our delete of their document touches nothing.
    assert_eq!(b.retriever.delete(ours, their_doc).await?, 0);
    let hits = top(b, theirs, "acquisition of Northwind", SearchMode::Hybrid).await?;
    assert_eq!(hits.first().map(|h| h.document_id), Some(their_doc));
    Ok(())
}

/// Query: an order number and a complaint. The vector ranking puts a paraphrase of the
/// complaint first (no order number); the text ranking puts a shipping log that repeats the
/// order number first. The chunk about both — the answer — is second in each, and first fused.
/// `lexical` says whether the backend's text ranking is by term statistics (PostgreSQL's
/// `ts_rank`); Qdrant's orders the chunks that contain a query word by vector similarity, so
/// there only the vector ranking is known to miss the answer.
pub async fn hybrid_beats_either_ranking_alone(b: &Backend, lexical: bool) -> anyhow::Result<()> {
    let org = Uuid::new_v4();
    let answer = index_plain(
        b,
        org,
        "For order KX-4471 the broken kettle was refunded in full.",
    )
    .await?;
    for text in [
        "Can I receive a refund when something I purchased arrives damaged?",
        "I want a refund for a damaged product I purchased.",
        "Requesting a refund on a purchase that arrived cracked.",
        "Is it possible to be reimbursed for a defective purchase?",
        "Order KX-4471, order KX-4471, order KX-4471: warehouse item scan for order KX-4471.",
        "Order KX-4471 shipped. Order KX-4471 delivered. Order KX-4471 invoice sent.",
        "The onboarding call is scheduled for Thursday afternoon with the design team.",
    ] {
        index_plain(b, org, text).await?;
    }
    let q = "can I get my money back for a broken item from order KX-4471";
    let rank_of = |hits: &[Hit]| hits.iter().position(|h| h.document_id == answer);
    let vector = top(b, org, q, SearchMode::Vector).await?;
    let text = top(b, org, q, SearchMode::Text).await?;
    let hybrid = top(b, org, q, SearchMode::Hybrid).await?;
    assert_eq!(rank_of(&vector), Some(1), "vector: {vector:#?}");
    assert_eq!(rank_of(&hybrid), Some(0), "hybrid: {hybrid:#?}");
    assert_eq!(hybrid[0].vector_rank, Some(2));
    if lexical {
        assert_eq!(rank_of(&text), Some(1), "text: {text:#?}");
        assert_eq!(hybrid[0].text_rank, Some(2));
    }
    Ok(())
}

const HANDBOOK: &str = "# Handbook\n\nWelcome to the team.\n\n## Security\n\n\
    Laptops are encrypted with full-disk encryption. Passwords rotate every 90 days.\n\n\
    ## Travel\n\nBook trains for trips under four hours. Flights need approval.\n";

pub async fn every_hit_carries_its_source(b: &Backend) -> anyhow::Result<()> {
    let org = Uuid::new_v4();
    let d = doc(
        Some("Employee handbook"),
        Some("https://intranet.example.com/handbook"),
    );
    b.retriever.index(org, &d, HANDBOOK).await?;
    let hits = top(b, org, "how often do passwords rotate", SearchMode::Hybrid).await?;
    let first = hits.first().ok_or_else(|| anyhow::anyhow!("no hit"))?;
    assert!(
        first.text.contains("Passwords rotate every 90 days"),
        "{first:?}"
    );
    assert_eq!(&HANDBOOK[first.start..first.end], first.text);
    assert_eq!(first.document_id, d.document_id);
    assert_eq!(
        first.source_url.as_deref(),
        Some("https://intranet.example.com/handbook")
    );
    assert_eq!(first.title.as_deref(), Some("Employee handbook"));
    assert_eq!(first.heading.as_deref(), Some("Handbook > Security"));
    for h in &hits {
        assert_eq!(&HANDBOOK[h.start..h.end], h.text, "{h:?}");
    }
    Ok(())
}

pub async fn reindexing_replaces_chunks_and_delete_removes_them(b: &Backend) -> anyhow::Result<()> {
    let org = Uuid::new_v4();
    let d = doc(None, None);
    b.retriever
        .index(org, &d, "The launch date is in March.")
        .await?;
    b.retriever
        .index(org, &d, "The launch moved to October.")
        .await?;
    let hits = top(b, org, "when is the launch", SearchMode::Hybrid).await?;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].text.contains("October"));
    assert_eq!(b.retriever.delete(org, d.document_id).await?, 1);
    assert!(
        top(b, org, "when is the launch", SearchMode::Hybrid)
            .await?
            .is_empty()
    );
    Ok(())
}

pub async fn filters_restrict_by_document_and_metadata(b: &Backend) -> anyhow::Result<()> {
    let org = Uuid::new_v4();
    let mut a = doc(None, None);
    a.metadata.insert("kind".into(), json!("contract"));
    let mut c = doc(None, None);
    c.metadata.insert("kind".into(), json!("email"));
    b.retriever
        .index(org, &a, "Payment is due within 30 days of invoice.")
        .await?;
    b.retriever
        .index(org, &c, "Payment reminder: the invoice is overdue.")
        .await?;
    let q = "when is payment due";
    let only_c = b
        .retriever
        .search(
            org,
            q,
            5,
            SearchMode::Hybrid,
            Filter::documents([c.document_id]),
        )
        .await?;
    assert!(!only_c.is_empty() && only_c.iter().all(|h| h.document_id == c.document_id));
    let mut by_kind = Filter::default();
    by_kind.metadata.insert("kind".into(), json!("contract"));
    let contracts = b
        .retriever
        .search(org, q, 5, SearchMode::Hybrid, by_kind)
        .await?;
    assert!(!contracts.is_empty() && contracts.iter().all(|h| h.document_id == a.document_id));
    Ok(())
}

pub async fn bad_queries_are_refused_as_bad_input(b: &Backend) -> anyhow::Result<()> {
    let org = Uuid::new_v4();
    let cases = [
        ("   ".to_owned(), 5),
        ("fine".to_owned(), 0),
        ("fine".to_owned(), 101),
        ("x".repeat(10_000), 5),
    ];
    for (q, limit) in cases {
        let err = b
            .retriever
            .search(org, &q, limit, SearchMode::Hybrid, Filter::default())
            .await
            .expect_err("refused");
        assert!(matches!(err, RetrievalError::Input(_)), "{err}");
        assert_eq!(problem::Problem::from(err).status().as_u16(), 400);
    }
    // Operators and quotes in a query are words, not syntax.
    let hits = top(b, org, "a & b | !c:* 'd' (e", SearchMode::Text).await?;
    assert!(hits.is_empty());
    let empty = b.retriever.index(org, &doc(None, None), " \n ").await;
    assert!(matches!(empty, Err(RetrievalError::Input(_))));
    Ok(())
}
