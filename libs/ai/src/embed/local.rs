//! The local default: a sentence-transformers BERT model (all-MiniLM-L6-v2) run with candle on
//! the CPU, loaded from a directory holding `config.json`, `tokenizer.json` and
//! `model.safetensors` (ARCHITECTURE §10). No network, no Python at run time.
use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use tokenizers::{PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::Semaphore;

use super::{EmbedError, Embedder, input, pooling};

/// How the local model runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// The name recorded with stored vectors.
    pub model_name: String,
    /// Threads for the model's arithmetic; `None` uses candle's default (every core).
    /// `FLEET_EMBED_THREADS`.
    pub threads: Option<usize>,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Forward passes running at once in the process.
    pub max_concurrent: usize,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            model_name: "all-MiniLM-L6-v2".into(),
            threads: None,
            batch_size: 32,
            // One at a time: a forward pass already spreads its matrix products over every core
            // it is given, so a second one at once only contends for them and doubles the peak
            // memory; callers queue on the semaphore instead.
            max_concurrent: 1,
        }
    }
}

/// sentence-transformers' `sentence_bert_config.json`.
#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: usize,
}

/// sentence-transformers' `1_Pooling/config.json` (the fields that decide the pooling).
#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
    /// A pool of `threads` threads the arithmetic runs in, when the count is bounded.
    threads: Option<rayon::ThreadPool>,
}

/// The local embedder. Cheap to clone: the model is shared.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<Model>,
    permits: Arc<Semaphore>,
    name: String,
    dimensions: usize,
    batch_size: usize,
}

/// Models loaded in this process, by directory and settings.
static LOADED: Mutex<Vec<(PathBuf, LocalConfig, Arc<LocalEmbedder>)>> = Mutex::new(Vec::new());

fn required(dir: &Path, name: &str) -> Result<PathBuf, EmbedError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(EmbedError::ModelMissing { path })
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EmbedError::Load(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Load(format!("{}: {e}", path.display())))
}

fn load_error(what: &Path) -> impl Fn(String) -> EmbedError + '_ {
    move |e| EmbedError::Load(format!("{}: {e}", what.display()))
}

/// The word-piece limit: the model's `max_seq_length` (256 for all-MiniLM-L6-v2), within its
/// position embeddings.
fn max_tokens(dir: &Path, config: &Config) -> Result<usize, EmbedError> {
    let path = dir.join("sentence_bert_config.json");
    let from_st = if path.is_file() {
        read_json::<SentenceConfig>(&path)?.max_seq_length
    } else {
        config.max_position_embeddings
    };
    Ok(from_st.min(config.max_position_embeddings))
}

fn check_pooling(dir: &Path) -> Result<(), EmbedError> {
    let path = dir.join("1_Pooling").join("config.json");
    if !path.is_file() {
        return Ok(());
    }
    let p: PoolingConfig = read_json(&path)?;
    if !p.pooling_mode_mean_tokens || p.pooling_mode_cls_token || p.pooling_mode_max_tokens {
        return Err(EmbedError::Load(format!(
            "{}: only mean pooling is supported",
            path.display()
        )));
    }
    Ok(())
}

fn load_tokenizer(dir: &Path, max_len: usize) -> Result<Tokenizer, EmbedError> {
    let path = required(dir, "tokenizer.json")?;
    let err = load_error(&path);
    let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| err(e.to_string()))?;
    // The file ships a fixed 128-token padding and truncation; sentence-transformers truncates
    // at max_seq_length and pads each batch to its longest text, and so does this.
    let mut padding = tokenizer.get_padding().cloned().unwrap_or_default();
    padding.strategy = PaddingStrategy::BatchLongest;
    tokenizer.with_padding(Some(padding));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| err(e.to_string()))?;
    Ok(tokenizer)
}

impl LocalEmbedder {
    /// Loads the model in `dir`. A missing directory or file is [`EmbedError::ModelMissing`]
    /// naming it.
    pub fn load(dir: &Path, cfg: LocalConfig) -> Result<Self, EmbedError> {
        if !dir.is_dir() {
            return Err(EmbedError::ModelMissing {
                path: dir.to_path_buf(),
            });
        }
        let config: Config = read_json(&required(dir, "config.json")?)?;
        check_pooling(dir)?;
        let tokenizer = load_tokenizer(dir, max_tokens(dir, &config)?)?;
        let weights_path = required(dir, "model.safetensors")?;
        let err = load_error(&weights_path);
        // Read into memory rather than mapped: mapping a file is `unsafe` (another process
        // could change it underneath), and 90 MB read once is cheap.
        let weights = std::fs::read(&weights_path).map_err(|e| err(e.to_string()))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| err(e.to_string()))?;
        let bert = BertModel::load(vb, &config).map_err(|e| err(e.to_string()))?;
        let threads = match cfg.threads {
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("embed-{i}"))
                    .build()
                    .map_err(|e| EmbedError::Load(format!("embedding threads: {e}")))?,
            ),
            None => None,
        };
        Ok(LocalEmbedder {
            model: Arc::new(Model {
                bert,
                tokenizer,
                threads,
            }),
            permits: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
            name: cfg.model_name,
            dimensions: config.hidden_size,
            batch_size: cfg.batch_size.max(1),
        })
    }

    /// The process's one copy of the model in `dir` with these settings, loaded on first use.
    pub fn shared(dir: &Path, cfg: LocalConfig) -> Result<Arc<LocalEmbedder>, EmbedError> {
        // Held across the load on purpose: two first callers at once wait for one load instead
        // of reading 90 MB twice. Nothing else ever takes this lock, and a panic inside it
        // leaves the list consistent, so a poisoned lock is used as is.
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, e)) = loaded.iter().find(|(d, c, _)| d == dir && *c == cfg) {
            return Ok(e.clone());
        }
        let embedder = Arc::new(LocalEmbedder::load(dir, cfg.clone())?);
        loaded.push((dir.to_path_buf(), cfg, embedder.clone()));
        Ok(embedder)
    }

    /// Embeds on the calling thread (for benchmarks and blocking callers); [`Embedder::embed`]
    /// runs the same work off the async workers.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        input::check(texts)?;
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            out.extend(self.model.run(batch)?);
        }
        Ok(out)
    }
}

impl Model {
    fn run(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match &self.threads {
            Some(pool) => pool.install(|| self.forward(texts)),
            None => self.forward(texts),
        }
    }

    fn forward(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| EmbedError::Inference(format!("tokenizer: {e}")))?;
        let (rows, cols) = (encodings.len(), encodings.first().map_or(0, |e| e.len()));
        let mut ids = Vec::with_capacity(rows * cols);
        let mut mask = Vec::with_capacity(rows * cols);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let tensors = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (rows, cols), &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, (rows, cols), &Device::Cpu)?;
            let types = ids.zeros_like()?;
            let hidden = self.bert.forward(&ids, &types, Some(&mask))?;
            pooling::mean_normalised(&hidden, &mask)
        };
        tensors().map_err(|e| EmbedError::Inference(e.to_string()))
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        input::check(texts)?;
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            // The permit bounds the forward passes in flight (see LocalConfig::max_concurrent)
            // and is held until this batch's blocking task ends.
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| EmbedError::Inference("the embedder was shut down".into()))?;
            let model = self.model.clone();
            let batch = batch.to_vec();
            let vectors = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                model.run(&batch)
            })
            .await
            .map_err(|e| EmbedError::Inference(format!("embedding task: {e}")))??;
            out.extend(vectors);
        }
        Ok(out)
    }
}
