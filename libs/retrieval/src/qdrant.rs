//! The cluster backend: Qdrant over gRPC (qdrant-client), one collection per service.
//!
//! The specification's per-tenant namespace `tenant_{org_id}` is a payload partition here, as
//! Qdrant's multitenancy guidance advises (a collection per tenant does not scale to 10 000
//! tenants): every point carries `organization_id`, indexed as a keyword with `is_tenant`, and
//! every read and delete filters on it. The text ranking is Qdrant's full-text payload index:
//! the chunks containing any of the query's words, ordered by vector similarity; hybrid search
//! fuses it with the plain vector ranking by reciprocal rank fusion, as the PostgreSQL backend
//! does with `ts_rank`.
use async_trait::async_trait;
use qdrant_client::{
    Payload, Qdrant,
    qdrant::{
        Condition, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
        Distance, FieldType, Filter as QFilter, KeywordIndexParamsBuilder, PointStruct,
        QueryPointsBuilder, ScoredPoint, TextIndexParamsBuilder, TokenizerType,
        UpsertPointsBuilder, VectorParamsBuilder,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    DocumentMeta, Hit, IndexedChunk, RetrievalError, SearchMode, SearchQuery, VectorStore, fusion,
    postgres::any_word_query, types::check_chunks,
};

/// A point's payload.
#[derive(Serialize, Deserialize)]
struct ChunkPayload {
    organization_id: String,
    document_id: String,
    chunk_index: i64,
    start: i64,
    end: i64,
    content: String,
    heading: Option<String>,
    source_url: Option<String>,
    title: Option<String>,
    model: String,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
}

fn qdrant_error(e: impl std::fmt::Display) -> RetrievalError {
    RetrievalError::Qdrant(e.to_string())
}

/// A stable point id for (organisation, document, chunk): re-indexing overwrites in place.
fn point_id(org: Uuid, doc: Uuid, index: usize) -> String {
    let mut h = Sha256::new();
    h.update(org.as_bytes());
    h.update(doc.as_bytes());
    h.update((index as u64).to_le_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes).to_string()
}

/// Chunks in one Qdrant collection shared by the service's tenants.
pub struct QdrantVectorStore {
    client: Qdrant,
    collection: String,
}

impl QdrantVectorStore {
    /// Connects to `url` (gRPC, e.g. `http://qdrant:6334`) and creates `collection` with its
    /// payload indexes when it does not exist yet.
    pub async fn connect(
        url: &str,
        api_key: Option<String>,
        collection: &str,
        dimensions: usize,
    ) -> Result<Self, RetrievalError> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .build()
            .map_err(qdrant_error)?;
        let store = QdrantVectorStore {
            client,
            collection: collection.to_owned(),
        };
        store.ensure_collection(dimensions).await?;
        Ok(store)
    }

    /// The store `QDRANT_URL` (and `QDRANT_API_KEY`) name, or `None` when `QDRANT_URL` is unset:
    /// the service then uses [`crate::PgVectorStore`].
    pub async fn from_env(
        collection: &str,
        dimensions: usize,
    ) -> Result<Option<Self>, RetrievalError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        let Some(url) = var("QDRANT_URL") else {
            return Ok(None);
        };
        Self::connect(url.trim(), var("QDRANT_API_KEY"), collection, dimensions)
            .await
            .map(Some)
    }

    async fn ensure_collection(&self, dimensions: usize) -> Result<(), RetrievalError> {
        let c = &self.collection;
        if !self
            .client
            .collection_exists(c)
            .await
            .map_err(qdrant_error)?
        {
            self.client
                .create_collection(CreateCollectionBuilder::new(c).vectors_config(
                    VectorParamsBuilder::new(dimensions as u64, Distance::Cosine),
                ))
                .await
                .map_err(qdrant_error)?;
        }
        let tenant =
            CreateFieldIndexCollectionBuilder::new(c, "organization_id", FieldType::Keyword)
                .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true))
                .wait(true);
        let document =
            CreateFieldIndexCollectionBuilder::new(c, "document_id", FieldType::Keyword).wait(true);
        let text = CreateFieldIndexCollectionBuilder::new(c, "content", FieldType::Text)
            .field_index_params(TextIndexParamsBuilder::new(TokenizerType::Word).lowercase(true))
            .wait(true);
        for index in [tenant, document, text] {
            self.client
                .create_field_index(index)
                .await
                .map_err(qdrant_error)?;
        }
        Ok(())
    }

    fn tenant_filter(org: Uuid, q: Option<&SearchQuery>) -> Result<QFilter, RetrievalError> {
        let mut must = vec![Condition::matches("organization_id", org.to_string())];
        let Some(q) = q else {
            return Ok(QFilter::must(must));
        };
        if let Some(ids) = &q.filter.document_ids {
            let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            must.push(Condition::matches("document_id", ids));
        }
        for (key, value) in &q.filter.metadata {
            let field = format!("metadata.{key}");
            must.push(match value {
                serde_json::Value::String(s) => Condition::matches(field, s.clone()),
                serde_json::Value::Bool(b) => Condition::matches(field, *b),
                serde_json::Value::Number(n) if n.is_i64() => {
                    Condition::matches(field, n.as_i64().unwrap_or_default())
                }
                _ => {
                    return Err(RetrievalError::Input(format!(
                        "metadata filter {key:?}: only strings, integers and booleans"
                    )));
                }
            });
        }
        Ok(QFilter::must(must))
    }

    async fn ranking(
        &self,
        q: &SearchQuery,
        filter: QFilter,
    ) -> Result<Vec<ScoredPoint>, RetrievalError> {
        let request = QueryPointsBuilder::new(&self.collection)
            .query(q.vector.clone())
            .filter(filter)
            .limit(q.candidates() as u64)
            .with_payload(true);
        Ok(self
            .client
            .query(request)
            .await
            .map_err(qdrant_error)?
            .result)
    }
}

fn hit_of(point: ScoredPoint, score: f64, ranks: &[Option<usize>]) -> Option<Hit> {
    let p: ChunkPayload = Payload::from(point.payload).deserialize().ok()?;
    Some(Hit {
        document_id: p.document_id.parse().ok()?,
        chunk_index: usize::try_from(p.chunk_index).ok()?,
        text: p.content,
        start: usize::try_from(p.start).ok()?,
        end: usize::try_from(p.end).ok()?,
        heading: p.heading,
        source_url: p.source_url,
        title: p.title,
        score,
        vector_rank: ranks.first().copied().flatten(),
        text_rank: ranks.get(1).copied().flatten(),
    })
}

#[async_trait]
impl VectorStore for QdrantVectorStore {
    async fn upsert(
        &self,
        org: Uuid,
        doc: &DocumentMeta,
        model: &str,
        chunks: &[IndexedChunk],
    ) -> Result<(), RetrievalError> {
        check_chunks(chunks)?;
        self.delete_document(org, doc.document_id).await?;
        let mut points = Vec::with_capacity(chunks.len());
        for c in chunks {
            let payload = ChunkPayload {
                organization_id: org.to_string(),
                document_id: doc.document_id.to_string(),
                chunk_index: c.chunk.index as i64,
                start: c.chunk.start as i64,
                end: c.chunk.end as i64,
                content: c.chunk.text.clone(),
                heading: c.chunk.heading.clone(),
                source_url: doc.source_url.clone(),
                title: doc.title.clone(),
                model: model.to_owned(),
                metadata: doc.metadata.clone(),
            };
            let payload = Payload::try_from(json!(payload)).map_err(qdrant_error)?;
            points.push(PointStruct::new(
                point_id(org, doc.document_id, c.chunk.index),
                c.vector.clone(),
                payload,
            ));
        }
        self.client
            .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true))
            .await
            .map_err(qdrant_error)?;
        Ok(())
    }

    async fn delete_document(&self, org: Uuid, document_id: Uuid) -> Result<u64, RetrievalError> {
        let mut filter = Self::tenant_filter(org, None)?;
        filter
            .must
            .push(Condition::matches("document_id", document_id.to_string()));
        let count = self
            .client
            .count(
                qdrant_client::qdrant::CountPointsBuilder::new(&self.collection)
                    .filter(filter.clone())
                    .exact(true),
            )
            .await
            .map_err(qdrant_error)?
            .result
            .map_or(0, |r| r.count);
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter)
                    .wait(true),
            )
            .await
            .map_err(qdrant_error)?;
        Ok(count)
    }

    async fn search(&self, org: Uuid, q: &SearchQuery) -> Result<Vec<Hit>, RetrievalError> {
        q.check()?;
        if q.vector.is_empty() {
            return Err(RetrievalError::Input(
                "the Qdrant backend ranks by vector: the query needs one".into(),
            ));
        }
        let base = Self::tenant_filter(org, Some(q))?;
        let vector = match q.mode {
            SearchMode::Text => Vec::new(),
            _ => self.ranking(q, base.clone()).await?,
        };
        let text = match (q.mode, any_word_query(&q.text)) {
            (SearchMode::Vector, _) | (_, None) => Vec::new(),
            (_, Some(words)) => {
                let mut f = base;
                f.must.push(Condition::matches_text_any(
                    "content",
                    words.replace(" | ", " "),
                ));
                self.ranking(q, f).await?
            }
        };
        let key = |p: &ScoredPoint| format!("{:?}", p.id);
        let lists = vec![
            vector.iter().map(key).collect::<Vec<_>>(),
            text.iter().map(key).collect::<Vec<_>>(),
        ];
        let fused = fusion::rrf(&lists, q.limit);
        let mut points: std::collections::HashMap<String, ScoredPoint> = vector
            .into_iter()
            .chain(text)
            .map(|p| (key(&p), p))
            .collect();
        Ok(fused
            .into_iter()
            .filter_map(|f| {
                let point = points.remove(&f.key)?;
                let score = match q.mode {
                    SearchMode::Hybrid => f.score,
                    _ => f64::from(point.score),
                };
                hit_of(point, score, &f.ranks)
            })
            .collect())
    }
}
