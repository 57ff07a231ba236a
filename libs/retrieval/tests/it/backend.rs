//! The backends the conformance cases run against.
use std::sync::Arc;

use retrieval::{PgVectorStore, QdrantVectorStore, Retriever, VectorStore};
use testkit::TestDb;

/// A retriever over one backend, with what keeps the backend alive.
pub struct Backend {
    pub retriever: Retriever,
    pub db: Option<TestDb>,
}

/// PostgreSQL: a fresh database with the platform migrations (which include the retrieval
/// table), reached as the application role, so forced RLS applies.
pub async fn postgres() -> anyhow::Result<Backend> {
    let db = TestDb::platform().await?;
    let store: Arc<dyn VectorStore> = Arc::new(PgVectorStore::new(db.app.clone()));
    let retriever = Retriever::new(ai::embed::local_default()?, store);
    Ok(Backend {
        retriever,
        db: Some(db),
    })
}

/// Qdrant at `QDRANT_URL` (gRPC), in a collection of the test's own; `None`, said on stderr,
/// when the variable is not set.
pub async fn qdrant(test: &str) -> anyhow::Result<Option<Backend>> {
    let embedder = ai::embed::local_default()?;
    let collection = testkit::unique("retrieval_test");
    let Some(qdrant) = QdrantVectorStore::from_env(&collection, embedder.dimensions()).await?
    else {
        eprintln!("skipped: QDRANT_URL not set ({test} did not run against Qdrant)");
        return Ok(None);
    };
    let store: Arc<dyn VectorStore> = Arc::new(qdrant);
    Ok(Some(Backend {
        retriever: Retriever::new(embedder, store),
        db: None,
    }))
}
