//! The default backend: the service's own PostgreSQL (`retrieval_chunks`, a platform migration
//! in every service database) under forced row-level security.
//!
//! Every call runs in a transaction scoped to the calling organisation as a client
//! (`store::begin`), so the tenant boundary is the database's: a query that forgot its
//! filter would still see only that organisation's rows. The vector ranking is an exact cosine
//! scan in Rust over the tenant's (filtered) rows, held between searches in the process's
//! [`VectorCache`] while the tenant's chunk generation is unchanged; the text ranking is `ts_rank` over the
//! generated `tsvector`; hybrid search fuses the two by reciprocal rank fusion (k = 60). In a
//! hybrid search the vectors are scored on a blocking thread while the text query runs in the
//! same transaction, so a search waits for the slower ranking, not for both in turn.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::{Row, types::Json};
use store::{PgPool, Scope};
use uuid::Uuid;

use crate::{
    DocumentMeta, Hit, IndexedChunk, RetrievalError, SearchMode, SearchQuery, VectorStore, fusion,
    similarity,
    types::check_chunks,
    vector_cache::{self, TenantVectors, VectorCache},
};

/// Chunks stored in the service's PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgVectorStore {
    pool: PgPool,
    cache: VectorCache,
    /// This store's part of the cache's keys (one per database; clones share it).
    store_id: u64,
}

/// A chunk's key: document and position.
type Key = (Uuid, i32);

#[derive(sqlx::FromRow)]
struct HitRow {
    document_id: Uuid,
    chunk_index: i32,
    content: String,
    start_offset: i32,
    end_offset: i32,
    heading: Option<String>,
    source_url: Option<String>,
    title: Option<String>,
}

/// Every vector the transaction may see, with the generation read by the same statement (one
/// snapshot, so the vectors are exactly that generation's), in key order.
async fn load_vectors(tx: &mut store::Tx, org: Uuid) -> Result<TenantVectors, RetrievalError> {
    let mut rows = sqlx::query(
        "SELECT coalesce(g.generation, 0), c.document_id, c.chunk_index, c.embedding \
         FROM (SELECT 1) AS one \
         LEFT JOIN retrieval_generations g ON g.organization_id = app_current_org() \
         LEFT JOIN retrieval_chunks c ON c.organization_id = $1 \
         ORDER BY c.document_id, c.chunk_index",
    )
    .bind(org)
    .fetch(&mut **tx);
    let mut out = TenantVectors::new(0);
    while let Some(row) = rows.try_next().await? {
        out.generation = row.try_get(0)?;
        let document: Option<Uuid> = row.try_get(1)?;
        if let (Some(d), Some(i), Some(v)) = (
            document,
            row.try_get::<Option<i32>, _>(2)?,
            row.try_get::<Option<&[u8]>, _>(3)?,
        ) {
            out.push(d, i, v);
        }
    }
    Ok(out)
}

/// The filter's conditions for picking the documents a metadata filter admits ($1 org, $2
/// document ids, $3 metadata).
const FILTERS: &str = "organization_id = $1 \
     AND ($2::uuid[] IS NULL OR document_id = ANY($2)) AND metadata @> $3";

/// The query's words joined by `|`: a chunk matches when it has any of them (after English
/// stemming and stop words). Only letters and digits reach `to_tsquery`, so no input can form
/// a tsquery operator or a syntax error.
pub(crate) fn any_word_query(text: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        if !w.is_empty() && !words.contains(&w) && words.len() < 64 {
            words.push(w);
        }
    }
    (!words.is_empty()).then(|| words.join(" | "))
}

/// The text ranking's statement: $1 the organisation, $2 the words, $3 the limit, then the
/// document ids and the metadata, each only when the filter has it.
fn text_sql(documents: bool, metadata: bool) -> String {
    let mut sql = String::from(
        "SELECT document_id, chunk_index, ts_rank(tsv, query) AS rank \
         FROM retrieval_chunks, to_tsquery('english', $2) AS query \
         WHERE organization_id = $1 AND tsv @@ query",
    );
    let mut n = 3;
    if documents {
        n += 1;
        sql.push_str(&format!(" AND document_id = ANY(${n})"));
    }
    if metadata {
        n += 1;
        sql.push_str(&format!(" AND metadata @> ${n}"));
    }
    sql.push_str(" ORDER BY rank DESC, document_id, chunk_index LIMIT $3");
    sql
}

impl PgVectorStore {
    /// A store over `pool` using the process's vector cache ([`VectorCache::global`]).
    pub fn new(pool: PgPool) -> Self {
        PgVectorStore::with_cache(pool, VectorCache::global())
    }

    /// A store over `pool` caching vectors in `cache`.
    pub fn with_cache(pool: PgPool, cache: VectorCache) -> Self {
        PgVectorStore {
            pool,
            cache,
            store_id: vector_cache::next_store_id(),
        }
    }

    /// The vector ranking, started: the tenant's vectors from the cache when their generation
    /// is the one this transaction reads, else loaded in this transaction (what RLS lets the
    /// tenant see) and cached; then scored exactly, with the filter's documents only, on a
    /// blocking thread (10 000 vectors of 384 dimensions are a few milliseconds of arithmetic,
    /// which the caller overlaps with its text query instead of holding an async worker).
    async fn start_vector_ranking(
        &self,
        tx: &mut store::Tx,
        org: Uuid,
        q: &SearchQuery,
    ) -> Result<tokio::task::JoinHandle<Vec<(Key, f32)>>, RetrievalError> {
        let vectors = self.tenant_vectors(tx, org).await?;
        let allowed = self.allowed_documents(tx, org, q).await?;
        let (query, k) = (q.vector.clone(), q.candidates());
        Ok(tokio::task::spawn_blocking(move || {
            let best = similarity::top_k_rows(&query, &vectors, k, |b, r| {
                allowed.as_ref().is_none_or(|a| a.contains(&b.documents[r]))
            });
            best.into_iter()
                .map(|(b, r, s)| {
                    let block = &vectors.blocks[b];
                    ((block.documents[r], block.chunks[r]), s)
                })
                .collect()
        }))
    }

    /// The rankings the mode uses: (vector, text), each empty when the mode leaves it out.
    async fn rankings(
        &self,
        tx: &mut store::Tx,
        org: Uuid,
        q: &SearchQuery,
    ) -> Result<(Vec<(Key, f32)>, Vec<(Key, f32)>), RetrievalError> {
        let scoring = match q.mode {
            SearchMode::Text => None,
            _ => Some(self.start_vector_ranking(tx, org, q).await?),
        };
        let text = match q.mode {
            SearchMode::Vector => Vec::new(),
            _ => self.text_ranking(tx, org, q).await?,
        };
        let vector = match scoring {
            Some(task) => task.await.map_err(|e| {
                RetrievalError::Store(store::StoreError::Config(format!(
                    "the vector scoring task failed: {e}"
                )))
            })?,
            None => Vec::new(),
        };
        Ok((vector, text))
    }

    /// The documents a filter admits, `None` for all. Metadata is a document's (`upsert` writes
    /// the same labels on each of its chunks), so the database's own `@>` picks the documents
    /// and the cached rows need no labels.
    async fn allowed_documents(
        &self,
        tx: &mut store::Tx,
        org: Uuid,
        q: &SearchQuery,
    ) -> Result<Option<HashSet<Uuid>>, RetrievalError> {
        if q.filter.metadata.is_empty() {
            return Ok(q
                .filter
                .document_ids
                .as_ref()
                .map(|d| d.iter().copied().collect()));
        }
        let sql = format!("SELECT DISTINCT document_id FROM retrieval_chunks WHERE {FILTERS}");
        let docs: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(org)
            .bind(q.filter.document_ids.as_deref())
            .bind(Json(&q.filter.metadata))
            .fetch_all(&mut **tx)
            .await?;
        Ok(Some(docs.into_iter().collect()))
    }

    /// The transaction's tenant's vectors at the generation it reads.
    async fn tenant_vectors(
        &self,
        tx: &mut store::Tx,
        org: Uuid,
    ) -> Result<Arc<TenantVectors>, RetrievalError> {
        // The key is the organisation the transaction is scoped to, as the database reports
        // it, not the caller's argument alone; the two agree or the search stops.
        let (scoped, generation): (Option<Uuid>, i64) = sqlx::query_as(
            "SELECT app_current_org(), coalesce((SELECT generation FROM retrieval_generations \
                 WHERE organization_id = app_current_org()), 0)",
        )
        .fetch_one(&mut **tx)
        .await?;
        if scoped != Some(org) {
            return Err(RetrievalError::Store(store::StoreError::Config(
                "the search transaction is not scoped to its organisation".into(),
            )));
        }
        let key = (self.store_id, org);
        if let Some(v) = self.cache.get(key, generation) {
            return Ok(v);
        }
        // Held across the load (an await): concurrent misses of this tenant queue here, and
        // all but the first find the vectors cached when they get it. Other tenants never wait.
        let lock = self.cache.loading_lock(key);
        let _loading = lock.lock().await;
        if let Some(v) = self.cache.get(key, generation) {
            return Ok(v);
        }
        self.cache.count_load();
        let loaded = Arc::new(load_vectors(tx, org).await?);
        self.cache.insert(key, Arc::clone(&loaded));
        Ok(loaded)
    }

    /// The text ranking: `ts_rank` of the chunks whose `tsv` has any of the query's words.
    /// Only the filter conditions the query has are in the statement (an absent filter would
    /// still be evaluated on every matching row), and the tenant policy's organisation is
    /// computed once per statement (migration 0004), so the cost is the ranking itself.
    async fn text_ranking(
        &self,
        tx: &mut store::Tx,
        org: Uuid,
        q: &SearchQuery,
    ) -> Result<Vec<(Key, f32)>, RetrievalError> {
        let Some(words) = any_word_query(&q.text) else {
            return Ok(Vec::new());
        };
        let documents = q.filter.document_ids.as_deref();
        let metadata = (!q.filter.metadata.is_empty()).then_some(&q.filter.metadata);
        let sql = text_sql(documents.is_some(), metadata.is_some());
        let mut query = sqlx::query_as::<_, (Uuid, i32, f32)>(sqlx::AssertSqlSafe(sql))
            .bind(org)
            .bind(words)
            .bind(q.candidates() as i64);
        if let Some(d) = documents {
            query = query.bind(d);
        }
        if let Some(m) = metadata {
            query = query.bind(Json(m));
        }
        let rows = query.fetch_all(&mut **tx).await?;
        Ok(rows.into_iter().map(|(d, i, r)| ((d, i), r)).collect())
    }

    async fn details(
        &self,
        tx: &mut store::Tx,
        org: Uuid,
        keys: &[Key],
    ) -> Result<HashMap<Key, HitRow>, RetrievalError> {
        let (docs, idx): (Vec<Uuid>, Vec<i32>) = keys.iter().copied().unzip();
        let rows: Vec<HitRow> = sqlx::query_as(
            "SELECT document_id, chunk_index, content, start_offset, end_offset, heading, \
                    source_url, title \
             FROM retrieval_chunks \
             WHERE organization_id = $1 \
               AND (document_id, chunk_index) IN (SELECT * FROM UNNEST($2::uuid[], $3::int[]))",
        )
        .bind(org)
        .bind(docs)
        .bind(idx)
        .fetch_all(&mut **tx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.document_id, r.chunk_index), r))
            .collect())
    }
}

/// The ranked keys of each ranking the mode uses, fused, with each key's single score.
fn fuse(
    mode: SearchMode,
    vector: Vec<(Key, f32)>,
    text: Vec<(Key, f32)>,
    limit: usize,
) -> Vec<(Key, f64, Option<usize>, Option<usize>)> {
    let raw: HashMap<Key, f32> = match mode {
        SearchMode::Vector => vector.iter().copied().collect(),
        SearchMode::Text => text.iter().copied().collect(),
        SearchMode::Hybrid => HashMap::new(),
    };
    let lists = vec![
        vector.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        text.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
    ];
    fusion::rrf(&lists, limit)
        .into_iter()
        .map(|f| {
            let score = raw.get(&f.key).map_or(f.score, |s| f64::from(*s));
            (f.key, score, f.ranks[0], f.ranks[1])
        })
        .collect()
}

#[async_trait]
impl VectorStore for PgVectorStore {
    async fn upsert(
        &self,
        org: Uuid,
        doc: &DocumentMeta,
        model: &str,
        chunks: &[IndexedChunk],
    ) -> Result<(), RetrievalError> {
        check_chunks(chunks)?;
        // One transaction, scoped to the tenant: the old chunks go and the new ones arrive
        // together, and the policy's WITH CHECK refuses rows of any other organisation.
        let mut tx = store::begin(&self.pool, Scope::tenant(org)).await?;
        sqlx::query("DELETE FROM retrieval_chunks WHERE organization_id = $1 AND document_id = $2")
            .bind(org)
            .bind(doc.document_id)
            .execute(&mut *tx)
            .await?;
        let c = |f: fn(&IndexedChunk) -> i32| chunks.iter().map(f).collect::<Vec<i32>>();
        sqlx::query(
            "INSERT INTO retrieval_chunks (organization_id, document_id, chunk_index, source_url, \
                 title, heading, start_offset, end_offset, content, metadata, model, embedding) \
             SELECT $1, $2, i, $3, $4, h, s, e, t, $5, $6, v \
             FROM UNNEST($7::int[], $8::text[], $9::int[], $10::int[], $11::text[], $12::bytea[]) \
                  AS u(i, h, s, e, t, v)",
        )
        .bind(org)
        .bind(doc.document_id)
        .bind(doc.source_url.as_deref())
        .bind(doc.title.as_deref())
        .bind(Json(&doc.metadata))
        .bind(model)
        .bind(c(|x| x.chunk.index as i32))
        .bind(
            chunks
                .iter()
                .map(|x| x.chunk.heading.clone())
                .collect::<Vec<_>>(),
        )
        .bind(c(|x| x.chunk.start as i32))
        .bind(c(|x| x.chunk.end as i32))
        .bind(
            chunks
                .iter()
                .map(|x| x.chunk.text.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunks
                .iter()
                .map(|x| similarity::encode(&x.vector))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_document(&self, org: Uuid, document_id: Uuid) -> Result<u64, RetrievalError> {
        let mut tx = store::begin(&self.pool, Scope::tenant(org)).await?;
        let done = sqlx::query(
            "DELETE FROM retrieval_chunks WHERE organization_id = $1 AND document_id = $2",
        )
        .bind(org)
        .bind(document_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn search(&self, org: Uuid, q: &SearchQuery) -> Result<Vec<Hit>, RetrievalError> {
        q.check()?;
        // Read-only and scoped to the tenant as a client: RLS limits every query below to the
        // organisation's rows whatever their WHERE says (the organization_id condition is
        // there for the primary key's index, not for isolation).
        let mut tx = store::begin_read(&self.pool, Scope::tenant(org)).await?;
        let (vector, text) = self.rankings(&mut tx, org, q).await?;
        let fused = fuse(q.mode, vector, text, q.limit);
        let keys: Vec<Key> = fused.iter().map(|f| f.0).collect();
        let mut rows = self.details(&mut tx, org, &keys).await?;
        tx.commit().await?;
        Ok(fused
            .into_iter()
            .filter_map(|(key, score, vector_rank, text_rank)| {
                let r = rows.remove(&key)?;
                Some(Hit {
                    document_id: r.document_id,
                    chunk_index: r.chunk_index as usize,
                    text: r.content,
                    start: r.start_offset as usize,
                    end: r.end_offset as usize,
                    heading: r.heading,
                    source_url: r.source_url,
                    title: r.title,
                    score,
                    vector_rank,
                    text_rank,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_words_cannot_form_tsquery_syntax() {
        assert_eq!(
            any_word_query("Fox & (dogs) | !cats:* 'x'").as_deref(),
            Some("fox | dogs | cats | x")
        );
        assert_eq!(any_word_query("&|!():*"), None);
    }

    #[test]
    fn the_text_statement_numbers_only_the_filters_it_has() {
        let plain = text_sql(false, false);
        assert!(
            !plain.contains("$4") && !plain.contains("metadata"),
            "{plain}"
        );
        let both = text_sql(true, true);
        assert!(both.contains("document_id = ANY($4)"), "{both}");
        assert!(both.contains("metadata @> $5"), "{both}");
        let metadata = text_sql(false, true);
        assert!(metadata.contains("metadata @> $4"), "{metadata}");
        assert!(!metadata.contains("$5"), "{metadata}");
    }
}
