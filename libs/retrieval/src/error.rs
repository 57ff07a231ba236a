//! What can go wrong storing or searching.
use ai::embed::EmbedError;

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// The caller's input is unusable (named in the message): a 4xx.
    #[error("bad input: {0}")]
    Input(String),
    #[error("embedding: {0}")]
    Embed(#[from] EmbedError),
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("qdrant: {0}")]
    Qdrant(String),
}

impl From<sqlx::Error> for RetrievalError {
    fn from(e: sqlx::Error) -> Self {
        RetrievalError::Store(store::StoreError::Database(e))
    }
}

impl From<RetrievalError> for problem::Problem {
    fn from(e: RetrievalError) -> Self {
        match e {
            RetrievalError::Input(m) | RetrievalError::Embed(EmbedError::Input(m)) => {
                problem::Problem::bad_request(m)
            }
            RetrievalError::Store(e) => e.into(),
            RetrievalError::Embed(EmbedError::Provider(_)) | RetrievalError::Qdrant(_) => {
                tracing::warn!(error = %e, "retrieval backend unavailable");
                problem::Problem::unavailable("the search backend is unavailable")
            }
            other => problem::Problem::internal(other),
        }
    }
}
