//! `--only retrieval`: the local embedding model's throughput (sentences/s on one core, and on
//! every core), and PostgreSQL hybrid retrieval latency over 10 000 chunks of one tenant with
//! 100 other tenants' chunks (10 000 more) in the same table, with the tenant's vectors in the
//! process's cache (the steady state) and right after a write (the cache reloads).
use std::{sync::Arc, time::Instant};

use ::retrieval::{
    Chunk, DocumentMeta, Filter, IndexedChunk, PgVectorStore, SearchMode, SearchQuery, VectorStore,
};
use ai::embed::{LocalConfig, LocalEmbedder};
use testkit::TestDb;
use uuid::Uuid;

const WORDS: &[&str] = &[
    "invoice",
    "contract",
    "renewal",
    "pricing",
    "discount",
    "onboarding",
    "security",
    "audit",
    "laptop",
    "travel",
    "refund",
    "shipment",
    "warehouse",
    "support",
    "ticket",
    "escalation",
    "meeting",
    "proposal",
    "signature",
    "deadline",
    "budget",
    "forecast",
    "customer",
    "partner",
    "integration",
    "latency",
    "outage",
    "backup",
    "password",
    "training",
    "quarter",
    "review",
];

/// A deterministic pseudo-random stream (no seed from the clock: runs compare).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn sentence(&mut self, n: usize) -> String {
        let words: Vec<&str> = (0..n)
            .map(|_| WORDS[self.next() as usize % WORDS.len()])
            .collect();
        format!("The {}.", words.join(" "))
    }

    fn unit_vector(&mut self, dims: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dims)
            .map(|_| (self.next() % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        ::retrieval::similarity::normalise(&mut v);
        v
    }
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    let i = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[i.min(sorted_ms.len() - 1)]
}

fn embedding_throughput() -> anyhow::Result<()> {
    let dir = ai::embed::model_dir()?;
    let mut rng = Lcg(7);
    let sentences: Vec<String> = (0..256).map(|_| rng.sentence(14)).collect();
    for threads in [Some(1), None] {
        let model = LocalEmbedder::load(
            &dir,
            LocalConfig {
                threads,
                ..LocalConfig::default()
            },
        )?;
        model.embed_blocking(&sentences[..32])?;
        let started = Instant::now();
        model.embed_blocking(&sentences)?;
        let secs = started.elapsed().as_secs_f64();
        let label = threads.map_or("all cores".to_owned(), |n| format!("{n} thread"));
        println!(
            "embedding (all-MiniLM-L6-v2, candle, batches of 32, 16-word sentences), {label}: {:.0} sentences/s",
            sentences.len() as f64 / secs
        );
    }
    let one = LocalEmbedder::load(
        &dir,
        LocalConfig {
            threads: Some(1),
            ..LocalConfig::default()
        },
    )?;
    let mut times = Vec::new();
    for s in sentences.iter().take(50) {
        let t = Instant::now();
        one.embed_blocking(std::slice::from_ref(s))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "embedding one query, 1 thread: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    Ok(())
}

async fn fill(
    store: &PgVectorStore,
    org: Uuid,
    docs: usize,
    per_doc: usize,
    rng: &mut Lcg,
) -> anyhow::Result<()> {
    for _ in 0..docs {
        let meta = DocumentMeta {
            document_id: Uuid::new_v4(),
            source_url: Some("https://example.com/doc".into()),
            title: None,
            metadata: serde_json::Map::new(),
        };
        let mut offset = 0;
        let chunks: Vec<IndexedChunk> = (0..per_doc)
            .map(|index| {
                let text = rng.sentence(40);
                let (start, end) = (offset, offset + text.len());
                offset = end + 1;
                IndexedChunk {
                    chunk: Chunk {
                        index,
                        text,
                        start,
                        end,
                        heading: None,
                    },
                    vector: rng.unit_vector(384),
                }
            })
            .collect();
        store
            .upsert(org, &meta, "all-MiniLM-L6-v2", &chunks)
            .await?;
    }
    Ok(())
}

async fn retrieval_latency() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let store = Arc::new(PgVectorStore::new(db.app.clone()));
    let mut rng = Lcg(42);
    let tenant = Uuid::new_v4();
    let started = Instant::now();
    fill(&store, tenant, 100, 100, &mut rng).await?;
    for _ in 0..100 {
        fill(&store, Uuid::new_v4(), 1, 100, &mut rng).await?;
    }
    sqlx::query("ANALYZE retrieval_chunks")
        .execute(&db.owner)
        .await?;
    println!(
        "retrieval: stored 10 000 chunks of one tenant + 10 000 of 100 others in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for mode in [SearchMode::Hybrid, SearchMode::Vector, SearchMode::Text] {
        let mut times = Vec::new();
        for i in 0..220 {
            let q = SearchQuery {
                text: format!(
                    "{} {} {}",
                    WORDS[i % 32],
                    WORDS[(i * 7) % 32],
                    WORDS[(i * 13) % 32]
                ),
                vector: rng.unit_vector(384),
                limit: 10,
                mode,
                filter: Filter::default(),
            };
            let t = Instant::now();
            let hits = store.search(tenant, &q).await?;
            if i >= 20 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::ensure!(!hits.is_empty(), "no hits");
        }
        times.sort_by(f64::total_cmp);
        println!(
            "retrieval {mode:?} top 10 over 10 000 chunks (20 000 in the table), PostgreSQL: p50 {:.2} ms, p99 {:.2} ms (200 searches; target p99 < 20 ms)",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    reload_latency(&store, tenant, &mut rng).await
}

/// The search right after a write of the tenant's: the generation moved, so it reloads the
/// tenant's 10 000 vectors from PostgreSQL before scoring.
async fn reload_latency(store: &PgVectorStore, tenant: Uuid, rng: &mut Lcg) -> anyhow::Result<()> {
    let mut times = Vec::new();
    for i in 0..20 {
        fill(store, tenant, 1, 1, rng).await?;
        let q = SearchQuery {
            text: format!("{} {}", WORDS[i % 32], WORDS[(i * 5) % 32]),
            vector: rng.unit_vector(384),
            limit: 10,
            mode: SearchMode::Hybrid,
            filter: Filter::default(),
        };
        let t = Instant::now();
        let hits = store.search(tenant, &q).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(!hits.is_empty(), "no hits");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "retrieval Hybrid right after a write (vector cache reloaded), PostgreSQL: p50 {:.2} ms, max {:.2} ms (20 searches)",
        percentile(&times, 0.5),
        percentile(&times, 1.0)
    );
    Ok(())
}

pub fn run(rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    println!("## retrieval");
    embedding_throughput()?;
    rt.block_on(retrieval_latency())
}
