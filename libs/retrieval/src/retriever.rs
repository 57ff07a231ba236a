//! Index and search documents: chunk, embed, store; embed the query, search, cite.
use std::sync::Arc;

use ai::embed::SharedEmbedder;
use uuid::Uuid;

use crate::{
    ChunkConfig, DocumentMeta, Filter, Hit, IndexedChunk, RetrievalError, SearchMode, SearchQuery,
    VectorStore, chunk,
};

/// Largest document [`Retriever::index`] accepts, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;

/// An embedder and a vector store used together. Cheap to clone.
#[derive(Clone)]
pub struct Retriever {
    embedder: SharedEmbedder,
    store: Arc<dyn VectorStore>,
    chunking: ChunkConfig,
}

impl Retriever {
    pub fn new(embedder: SharedEmbedder, store: Arc<dyn VectorStore>) -> Self {
        Retriever {
            embedder,
            store,
            chunking: ChunkConfig::default(),
        }
    }

    pub fn with_chunking(mut self, chunking: ChunkConfig) -> Self {
        self.chunking = chunking;
        self
    }

    /// Chunks and embeds `text` and replaces the document's chunks with them; answers how many
    /// chunks it stored.
    pub async fn index(
        &self,
        org: Uuid,
        doc: &DocumentMeta,
        text: &str,
    ) -> Result<usize, RetrievalError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(RetrievalError::Input(format!(
                "the document is {} bytes; at most {MAX_DOCUMENT_BYTES}",
                text.len()
            )));
        }
        let chunks = chunk::chunk(text, &self.chunking);
        if chunks.is_empty() {
            return Err(RetrievalError::Input("the document has no text".into()));
        }
        let texts: Vec<String> = chunks
            .iter()
            .map(|c| match &c.heading {
                // The heading path gives a chunk the context its sentences leave implicit.
                Some(h) if !c.text.starts_with('#') => format!("{h}\n{}", c.text),
                _ => c.text.clone(),
            })
            .collect();
        let vectors = self.embedder.embed(&texts).await?;
        let indexed: Vec<IndexedChunk> = chunks
            .into_iter()
            .zip(vectors)
            .map(|(chunk, vector)| IndexedChunk { chunk, vector })
            .collect();
        self.store
            .upsert(org, doc, self.embedder.model(), &indexed)
            .await?;
        Ok(indexed.len())
    }

    /// The best `limit` chunks of the organisation's documents for `text`.
    pub async fn search(
        &self,
        org: Uuid,
        text: &str,
        limit: usize,
        mode: SearchMode,
        filter: Filter,
    ) -> Result<Vec<Hit>, RetrievalError> {
        let mut query = SearchQuery {
            text: text.to_owned(),
            vector: Vec::new(),
            limit,
            mode,
            filter,
        };
        // Checked before the embedder runs, so a bad request costs nothing.
        query.check_request()?;
        // Embedded in every mode: the Qdrant backend orders its text matches by vector.
        query.vector = self.embedder.embed_one(text).await?;
        self.store.search(org, &query).await
    }

    /// Removes the document's chunks.
    pub async fn delete(&self, org: Uuid, document_id: Uuid) -> Result<u64, RetrievalError> {
        self.store.delete_document(org, document_id).await
    }
}
