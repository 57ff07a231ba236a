//! Embeddings: text to vectors.
//!
//! Two implementations behind one trait (ARCHITECTURE §10): the local default, all-MiniLM-L6-v2
//! run with candle on the CPU ([`LocalEmbedder`]), and any OpenAI-compatible `/embeddings`
//! endpoint ([`OpenAiEmbedder`]). Callers hold a [`SharedEmbedder`] (`Arc<dyn Embedder>`), made
//! once at start-up by [`from_env`] or [`local_default`], and clone it freely.
use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;

mod input;
mod local;
mod openai;
mod pooling;
mod settings;

pub use local::{LocalConfig, LocalEmbedder};
pub use openai::{OpenAiConfig, OpenAiEmbedder};
pub use settings::{MODEL_DIR_ENV, model_dir};

/// What went wrong embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding model could not be loaded: {0}")]
    Load(String),
    /// The model directory, or a file the model needs in it, does not exist.
    #[error("the embedding model is missing: {} does not exist", path.display())]
    ModelMissing { path: PathBuf },
    /// Neither `FLEET_EMBED_MODEL_DIR` nor the dependency script's pointer file names a model.
    #[error("no embedding model is configured: {0}")]
    NotConfigured(String),
    #[error("the embedding provider failed: {0}")]
    Provider(String),
    /// The local model failed while running (a tensor operation).
    #[error("the embedding model failed: {0}")]
    Inference(String),
    #[error("bad input: {0}")]
    Input(String),
}

/// Text to fixed-size vectors (L2-normalised, so cosine is a dot product).
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name, recorded with stored vectors.
    fn model(&self) -> &str;
    /// The length of every vector.
    fn dimensions(&self) -> usize;
    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// One text's vector (a query, a tool description).
    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut out = self.embed(&[text.to_owned()]).await?;
        out.pop()
            .ok_or_else(|| EmbedError::Provider("no vector was returned".into()))
    }
}

/// The handle callers keep: cheap to clone, one model behind it.
pub type SharedEmbedder = Arc<dyn Embedder>;

/// The local model (all-MiniLM-L6-v2) from `FLEET_EMBED_MODEL_DIR`, else from the directory
/// named in `fleet-tools/embed-model-dir` under the cache directory (`$XDG_CACHE_HOME`, else
/// `~/.cache`), which `scripts/deps.sh` writes. The model is loaded once per process and
/// directory and shared by every caller. Loading reads ~90 MB: call it at start-up (or from
/// `spawn_blocking`), not on a request path.
pub fn local_default() -> Result<SharedEmbedder, EmbedError> {
    let dir = settings::model_dir()?;
    let cfg = settings::local_config_from_env()?;
    let shared: SharedEmbedder = LocalEmbedder::shared(&dir, cfg)?;
    Ok(shared)
}

/// The embedder the environment asks for: the OpenAI-compatible client when
/// `FLEET_EMBED_BASE_URL` is set (with `FLEET_EMBED_MODEL`, `FLEET_EMBED_DIMENSIONS` and the key
/// from `FLEET_EMBED_API_KEY_FILE`), else [`local_default`].
pub fn from_env() -> Result<SharedEmbedder, EmbedError> {
    match settings::openai_config_from_env()? {
        Some(cfg) => {
            let client: SharedEmbedder = Arc::new(OpenAiEmbedder::new(cfg)?);
            Ok(client)
        }
        None => local_default(),
    }
}
