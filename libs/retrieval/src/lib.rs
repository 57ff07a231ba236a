//! Chunking, vector stores (PostgreSQL under RLS by default, Qdrant in a cluster) and hybrid
//! retrieval (ARCHITECTURE §4, §10).
//!
//! A service indexes a document with [`Retriever::index`] (chunk, embed, store) and searches
//! with [`Retriever::search`]; every [`Hit`] carries its source — document, byte offsets, URL —
//! so answers can cite it. The tenant boundary is the store's: PostgreSQL's row-level security
//! in the service's own database, or a payload-indexed `organization_id` partition in Qdrant.
pub mod chunk;
mod error;
pub mod fusion;
pub mod postgres;
pub mod qdrant;
mod retriever;
pub mod similarity;
mod types;
pub mod vector_cache;

pub use chunk::{Chunk, ChunkConfig};
pub use error::RetrievalError;
pub use postgres::PgVectorStore;
pub use qdrant::QdrantVectorStore;
pub use retriever::Retriever;
pub use types::{DocumentMeta, Filter, Hit, IndexedChunk, SearchMode, SearchQuery, VectorStore};
pub use vector_cache::VectorCache;
