//! The PostgreSQL backend: the conformance cases, and the tenant boundary held by the database.
use retrieval::{
    Chunk, DocumentMeta, Filter, IndexedChunk, PgVectorStore, SearchMode, SearchQuery, VectorCache,
    VectorStore,
};
use store::Scope;
use testkit::TestDb;
use uuid::Uuid;

use crate::{backend, conformance};

#[tokio::test]
async fn another_tenants_chunks_are_never_returned() -> anyhow::Result<()> {
    conformance::another_tenants_chunks_are_never_returned(&backend::postgres().await?).await
}

#[tokio::test]
async fn hybrid_retrieval_beats_vector_or_text_ranking_alone() -> anyhow::Result<()> {
    conformance::hybrid_beats_either_ranking_alone(&backend::postgres().await?, true).await
}

#[tokio::test]
async fn every_hit_carries_its_document_offsets_and_url() -> anyhow::Result<()> {
    conformance::every_hit_carries_its_source(&backend::postgres().await?).await
}

#[tokio::test]
async fn reindexing_replaces_a_documents_chunks_and_delete_removes_them() -> anyhow::Result<()> {
    conformance::reindexing_replaces_chunks_and_delete_removes_them(&backend::postgres().await?)
        .await
}

#[tokio::test]
async fn filters_restrict_a_search_by_document_and_metadata() -> anyhow::Result<()> {
    conformance::filters_restrict_by_document_and_metadata(&backend::postgres().await?).await
}

#[tokio::test]
async fn bad_queries_are_refused_as_bad_input() -> anyhow::Result<()> {
    conformance::bad_queries_are_refused_as_bad_input(&backend::postgres().await?).await
}

#[tokio::test]
async fn the_chunks_table_has_forced_row_level_security() -> anyhow::Result<()> {
    let b = backend::postgres().await?;
    let db =
        b.db.as_ref()
            .ok_or_else(|| anyhow::anyhow!("no database"))?;
    testkit::rls::check_forced_rls(db, &["retrieval_chunks", "retrieval_generations"]).await
}

/// Without any WHERE clause, a client-scoped transaction sees its own organisation's chunks
/// only: the boundary is the policy, not the queries' filters.
#[tokio::test]
async fn row_level_security_alone_hides_another_tenants_chunks() -> anyhow::Result<()> {
    let b = backend::postgres().await?;
    let db =
        b.db.as_ref()
            .ok_or_else(|| anyhow::anyhow!("no database"))?;
    let (ours, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    let meta = |_: ()| DocumentMeta {
        document_id: Uuid::new_v4(),
        source_url: None,
        title: None,
        metadata: serde_json::Map::new(),
    };
    b.retriever
        .index(ours, &meta(()), "Ours: the roadmap for spring.")
        .await?;
    b.retriever
        .index(theirs, &meta(()), "Theirs: the merger terms.")
        .await?;
    b.retriever
        .index(theirs, &meta(()), "Theirs: the salary bands.")
        .await?;
    let count = |scope: Scope| async move {
        let mut tx = store::begin(&db.app, scope).await?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM retrieval_chunks")
            .fetch_one(&mut *tx)
            .await?;
        anyhow::Ok(n)
    };
    assert_eq!(count(Scope::tenant(ours)).await?, 1);
    assert_eq!(count(Scope::tenant(theirs)).await?, 2);
    assert_eq!(count(Scope::system()).await?, 3);
    // An application-role connection without a scope sees nothing at all.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM retrieval_chunks")
        .fetch_one(&db.app)
        .await?;
    assert_eq!(n, 0);
    let hits = b
        .retriever
        .search(
            ours,
            "merger terms salary",
            10,
            SearchMode::Hybrid,
            Filter::default(),
        )
        .await?;
    assert!(hits.iter().all(|h| h.text.starts_with("Ours")), "{hits:?}");
    Ok(())
}

#[tokio::test]
async fn a_tenant_transaction_cannot_write_another_tenants_chunks() -> anyhow::Result<()> {
    let b = backend::postgres().await?;
    let db =
        b.db.as_ref()
            .ok_or_else(|| anyhow::anyhow!("no database"))?;
    let (ours, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    let mut tx = store::begin(&db.app, Scope::tenant(ours)).await?;
    let res = sqlx::query(
        "INSERT INTO retrieval_chunks (organization_id, document_id, chunk_index, start_offset, \
             end_offset, content, model, embedding) \
         VALUES ($1, $2, 0, 0, 4, 'text', 'm', '\\x0000803f')",
    )
    .bind(theirs)
    .bind(Uuid::new_v4())
    .execute(&mut *tx)
    .await;
    let err = res.expect_err("the policy refuses the row");
    assert!(err.to_string().contains("row-level security"), "{err}");
    Ok(())
}

/// A document of one chunk whose vector is the unit vector along `axis` (of 8), so a vector
/// search along that axis ranks it first.
async fn put(store: &PgVectorStore, org: Uuid, doc: Uuid, axis: usize) -> anyhow::Result<()> {
    let mut vector = vec![0.0f32; 8];
    vector[axis] = 1.0;
    let text = format!("Chunk along axis {axis}.");
    let chunk = IndexedChunk {
        chunk: Chunk {
            index: 0,
            start: 0,
            end: text.len(),
            text,
            heading: None,
        },
        vector,
    };
    let meta = DocumentMeta {
        document_id: doc,
        source_url: None,
        title: None,
        metadata: serde_json::Map::new(),
    };
    store.upsert(org, &meta, "test-model", &[chunk]).await?;
    Ok(())
}

/// The documents of a vector search along `axis`, best first.
async fn along(store: &PgVectorStore, org: Uuid, axis: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut vector = vec![0.0f32; 8];
    vector[axis] = 1.0;
    let q = SearchQuery {
        text: "axis".into(),
        vector,
        limit: 10,
        mode: SearchMode::Vector,
        filter: Filter::default(),
    };
    Ok(store
        .search(org, &q)
        .await?
        .into_iter()
        .map(|h| h.document_id)
        .collect())
}

#[tokio::test]
async fn a_search_after_an_upsert_or_delete_sees_the_change() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let cache = VectorCache::new(1 << 20);
    let store = PgVectorStore::with_cache(db.app.clone(), cache.clone());
    let org = Uuid::new_v4();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    put(&store, org, a, 0).await?;
    assert_eq!(along(&store, org, 0).await?.first(), Some(&a));
    assert_eq!(along(&store, org, 0).await?.first(), Some(&a));
    assert_eq!(
        (cache.tenants(), cache.loads()),
        (1, 1),
        "the second search hit"
    );
    put(&store, org, b, 1).await?;
    assert_eq!(
        along(&store, org, 1).await?.first(),
        Some(&b),
        "insert seen"
    );
    put(&store, org, a, 2).await?;
    assert_eq!(
        along(&store, org, 2).await?.first(),
        Some(&a),
        "re-index seen"
    );
    assert_eq!(store.delete_document(org, b).await?, 1);
    assert_eq!(along(&store, org, 1).await?, vec![a], "delete seen");
    // A write that bypasses the store (here: a direct UPDATE in the tenant's scope) moves the
    // generation too: the triggers, not the store's code, keep the cache exact.
    let mut tx = store::begin(&db.app, Scope::tenant(org)).await?;
    sqlx::query("UPDATE retrieval_chunks SET embedding = $1 WHERE document_id = $2")
        .bind(retrieval::similarity::encode(&[
            0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0,
        ]))
        .bind(a)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut q3 = vec![0.0f32; 8];
    q3[3] = 1.0;
    let hits = store
        .search(
            org,
            &SearchQuery {
                text: "axis".into(),
                vector: q3,
                limit: 1,
                mode: SearchMode::Vector,
                filter: Filter::default(),
            },
        )
        .await?;
    assert_eq!(
        hits.first().map(|h| (h.document_id, h.score)),
        Some((a, 1.0))
    );
    Ok(())
}

#[tokio::test]
async fn another_tenants_search_never_sees_a_cached_tenants_chunks() -> anyhow::Result<()> {
    let (db, other_db) = (TestDb::platform().await?, TestDb::platform().await?);
    let cache = VectorCache::new(1 << 20);
    let store = PgVectorStore::with_cache(db.app.clone(), cache.clone());
    let (ours, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    let their_doc = Uuid::new_v4();
    put(&store, theirs, their_doc, 0).await?;
    assert_eq!(along(&store, theirs, 0).await?, vec![their_doc]);
    assert_eq!(cache.tenants(), 1);
    assert!(along(&store, ours, 0).await?.is_empty());
    let our_doc = Uuid::new_v4();
    put(&store, ours, our_doc, 5).await?;
    assert_eq!(along(&store, ours, 0).await?, vec![our_doc]);
    // The same organisation in another service's database shares the process cache, not
    // the entry: that database holds nothing for it.
    let elsewhere = PgVectorStore::with_cache(other_db.app.clone(), cache.clone());
    assert!(along(&elsewhere, theirs, 0).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_cache_evicts_the_least_recently_used_tenant_to_stay_in_its_bound() -> anyhow::Result<()>
{
    let db = TestDb::platform().await?;
    let orgs: Vec<(Uuid, Uuid)> = (0..3).map(|_| (Uuid::new_v4(), Uuid::new_v4())).collect();
    let filler = PgVectorStore::with_cache(db.app.clone(), VectorCache::new(0));
    for (i, (org, doc)) in orgs.iter().enumerate() {
        put(&filler, *org, *doc, i).await?;
    }
    // Room for two tenants' single vectors, not three.
    let probe = VectorCache::new(1 << 20);
    along(
        &PgVectorStore::with_cache(db.app.clone(), probe.clone()),
        orgs[0].0,
        0,
    )
    .await?;
    let cache = VectorCache::new(probe.used() * 5 / 2);
    let store = PgVectorStore::with_cache(db.app.clone(), cache.clone());
    for (i, (org, doc)) in orgs.iter().enumerate() {
        assert_eq!(along(&store, *org, i).await?, vec![*doc]);
        assert!(cache.used() <= cache.capacity());
    }
    assert_eq!((cache.tenants(), cache.loads()), (2, 3));
    // The first tenant was evicted: its next search loads again, and is still right.
    assert_eq!(along(&store, orgs[0].0, 0).await?, vec![orgs[0].1]);
    assert_eq!(cache.loads(), 4);
    assert!(cache.used() <= cache.capacity());
    Ok(())
}

#[tokio::test]
async fn concurrent_misses_of_one_tenant_load_its_vectors_once() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let cache = VectorCache::new(1 << 20);
    let store = PgVectorStore::with_cache(db.app.clone(), cache.clone());
    let (org, doc) = (Uuid::new_v4(), Uuid::new_v4());
    put(&store, org, doc, 4).await?;
    let searches = (0..6).map(|_| along(&store, org, 4));
    for hits in futures::future::try_join_all(searches).await? {
        assert_eq!(hits, vec![doc]);
    }
    assert_eq!(cache.loads(), 1);
    Ok(())
}
