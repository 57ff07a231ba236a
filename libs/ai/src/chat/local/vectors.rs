//! Embeddings of the texts the local model compares, cached: a tool's description (and a
//! context sentence) is embedded once per process, so a request pays for its own message only.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::{
    chat::error::ChatError,
    embed::{EmbedError, Embedder},
};

/// Most cached texts; beyond it the cache starts afresh (tool sets are small and stable).
const MAX_CACHED: usize = 4096;

pub struct Vectors {
    embedder: Arc<dyn Embedder>,
    cache: Mutex<HashMap<String, Arc<[f32]>>>,
}

impl Vectors {
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        Vectors {
            embedder,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The query's vector (never cached: every message is new) and the vectors of `texts`
    /// (cached), computed in one batch for whatever is not cached yet.
    pub async fn embed(
        &self,
        query: &str,
        texts: &[String],
    ) -> Result<(Vec<f32>, Vec<Arc<[f32]>>), ChatError> {
        let missing: Vec<String> = {
            // Held only to look up, never across the embedding call.
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .filter(|t| !cache.contains_key(*t) && seen.insert(t.as_str()))
                .cloned()
                .collect()
        };
        let mut batch = Vec::with_capacity(missing.len() + 1);
        batch.push(clip(query).to_string());
        batch.extend(missing.iter().map(|t| clip(t).to_string()));
        let mut vectors = self.embedder.embed(&batch).await.map_err(|e| match e {
            EmbedError::Input(m) => ChatError::BadRequest(m),
            other => failed(other),
        })?;
        if vectors.len() != batch.len() {
            return Err(failed("too few vectors"));
        }
        let new = vectors.split_off(1);
        let query = vectors.pop().unwrap_or_default();
        // One lock to insert the new vectors and read every requested one back.
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() + new.len() > MAX_CACHED {
            cache.clear();
        }
        let mut fresh = HashMap::new();
        for (text, v) in missing.into_iter().zip(new) {
            let v: Arc<[f32]> = v.into();
            fresh.insert(text.clone(), v.clone());
            cache.insert(text, v);
        }
        let out = texts
            .iter()
            .map(|t| {
                cache
                    .get(t)
                    .or_else(|| fresh.get(t))
                    .cloned()
                    .unwrap_or_else(|| Arc::from(Vec::new()))
            })
            .collect();
        Ok((query, out))
    }
}

fn failed(e: impl std::fmt::Display) -> ChatError {
    ChatError::Provider {
        status: None,
        message: format!("the local model's embedder failed: {e}"),
    }
}

/// The model reads only the first few hundred word pieces of a text: what it is given is
/// clipped (at a character boundary) well before the embedder's input limit, so a long message
/// is no error.
fn clip(text: &str) -> &str {
    const MAX: usize = 16 * 1024;
    if text.len() <= MAX {
        return text;
    }
    let end = (0..=MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

/// Cosine of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
