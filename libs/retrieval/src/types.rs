//! The vector-store contract both backends keep, and what flows through it.
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Chunk, RetrievalError};

/// Longest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most hits one search returns.
pub const MAX_LIMIT: usize = 100;

/// What is known about a document: its id in the calling service and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub document_id: Uuid,
    pub source_url: Option<String>,
    pub title: Option<String>,
    /// Caller's labels (a JSON object), filterable by equality on its keys.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A chunk with its vector, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedChunk {
    pub chunk: Chunk,
    pub vector: Vec<f32>,
}

/// How a search ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Vector similarity and full-text ranking fused by reciprocal rank fusion.
    #[default]
    Hybrid,
    Vector,
    Text,
}

/// Restricts a search; every condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Only these documents.
    #[serde(default)]
    pub document_ids: Option<Vec<Uuid>>,
    /// Only chunks whose document metadata contains these key/value pairs.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Filter {
    /// Only the given documents.
    pub fn documents(ids: impl IntoIterator<Item = Uuid>) -> Self {
        Filter {
            document_ids: Some(ids.into_iter().collect()),
            ..Filter::default()
        }
    }
}

/// One search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub text: String,
    /// The query's vector, by the same model as the stored ones.
    pub vector: Vec<f32>,
    pub limit: usize,
    pub mode: SearchMode,
    pub filter: Filter,
}

impl SearchQuery {
    /// [`SearchQuery::check_request`], and a vector wherever the mode ranks by one.
    pub fn check(&self) -> Result<(), RetrievalError> {
        self.check_request()?;
        if self.vector.is_empty() && self.mode != SearchMode::Text {
            return Err(RetrievalError::Input("the query has no vector".into()));
        }
        Ok(())
    }

    /// Refuses an empty or oversized query and a limit of 0 or above [`MAX_LIMIT`].
    pub fn check_request(&self) -> Result<(), RetrievalError> {
        if self.text.trim().is_empty() {
            return Err(RetrievalError::Input("the query is empty".into()));
        }
        if self.text.len() > MAX_QUERY_BYTES {
            return Err(RetrievalError::Input(format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES}",
                self.text.len()
            )));
        }
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(RetrievalError::Input(format!(
                "limit {} is outside 1..={MAX_LIMIT}",
                self.limit
            )));
        }
        Ok(())
    }

    /// How many candidates each ranking contributes to the fusion.
    pub fn candidates(&self) -> usize {
        (self.limit * 4).max(50)
    }
}

/// One result, with everything needed to cite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub document_id: Uuid,
    pub chunk_index: usize,
    pub text: String,
    /// Byte offsets of `text` in the original document.
    pub start: usize,
    pub end: usize,
    pub heading: Option<String>,
    pub source_url: Option<String>,
    pub title: Option<String>,
    /// The fused score (reciprocal rank fusion), or the single ranking's score.
    pub score: f64,
    /// Rank (from 1) in the vector ranking and in the full-text ranking, when it was in them.
    pub vector_rank: Option<usize>,
    pub text_rank: Option<usize>,
}

/// Chunks, vectors and metadata of one service's documents, tenant by tenant.
///
/// Every call names the organisation it acts for; a backend never returns or touches another
/// organisation's chunks (PostgreSQL: row-level security; Qdrant: the `organization_id`
/// partition in every filter).
#[async_trait]
pub trait VectorStore: Send + Sync {
    /// Replaces the document's chunks with `chunks` (all at once).
    async fn upsert(
        &self,
        org: Uuid,
        doc: &DocumentMeta,
        model: &str,
        chunks: &[IndexedChunk],
    ) -> Result<(), RetrievalError>;

    /// Removes the document's chunks; answers how many there were.
    async fn delete_document(&self, org: Uuid, document_id: Uuid) -> Result<u64, RetrievalError>;

    /// The best chunks for the query, best first.
    async fn search(&self, org: Uuid, query: &SearchQuery) -> Result<Vec<Hit>, RetrievalError>;
}

/// Checks chunks before they are stored: offsets in order, vectors of one finite length.
pub(crate) fn check_chunks(chunks: &[IndexedChunk]) -> Result<(), RetrievalError> {
    let dims = chunks.first().map_or(0, |c| c.vector.len());
    for (i, c) in chunks.iter().enumerate() {
        if c.vector.is_empty() || c.vector.len() != dims || c.vector.iter().any(|x| !x.is_finite())
        {
            return Err(RetrievalError::Input(format!(
                "chunk {i}: the vector must have {dims} finite values"
            )));
        }
        if c.chunk.end < c.chunk.start || c.chunk.text.trim().is_empty() {
            return Err(RetrievalError::Input(format!(
                "chunk {i}: empty text or offsets out of order"
            )));
        }
        if i32::try_from(c.chunk.end).is_err() || i32::try_from(c.chunk.index).is_err() {
            return Err(RetrievalError::Input(format!(
                "chunk {i}: offsets too large"
            )));
        }
    }
    Ok(())
}
