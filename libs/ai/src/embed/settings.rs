//! The embedders' settings from the environment (README, settings table): `FLEET_EMBED_*`.
//!
//! Each reader takes a lookup function so the rules are tested without touching the process
//! environment.
use std::{path::PathBuf, time::Duration};

use super::{EmbedError, LocalConfig, OpenAiConfig};

/// Names the local model's directory (the one holding `model.safetensors`, `tokenizer.json`).
pub const MODEL_DIR_ENV: &str = "FLEET_EMBED_MODEL_DIR";
/// The file `scripts/deps.sh` writes the model directory into, under the cache directory.
const POINTER: &str = "fleet-tools/embed-model-dir";

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The local model's directory: `FLEET_EMBED_MODEL_DIR`, else the path in
/// `$XDG_CACHE_HOME/fleet-tools/embed-model-dir` (or `~/.cache/…`).
pub fn model_dir() -> Result<PathBuf, EmbedError> {
    model_dir_from(&env)
}

pub(crate) fn model_dir_from(get: Lookup<'_>) -> Result<PathBuf, EmbedError> {
    if let Some(dir) = get(MODEL_DIR_ENV) {
        return Ok(PathBuf::from(dir.trim()));
    }
    let cache = get("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| get("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or_else(|| {
            EmbedError::NotConfigured(format!(
                "{MODEL_DIR_ENV} is not set and neither is XDG_CACHE_HOME or HOME"
            ))
        })?;
    let pointer = cache.join(POINTER);
    match std::fs::read_to_string(&pointer) {
        Ok(text) if !text.trim().is_empty() => Ok(PathBuf::from(text.trim())),
        Ok(_) => Err(EmbedError::NotConfigured(format!(
            "{} is empty; set {MODEL_DIR_ENV} or run scripts/deps.sh",
            pointer.display()
        ))),
        Err(_) => Err(EmbedError::NotConfigured(format!(
            "{MODEL_DIR_ENV} is not set and {} does not exist; run scripts/deps.sh",
            pointer.display()
        ))),
    }
}

pub(crate) fn local_config_from_env() -> Result<LocalConfig, EmbedError> {
    local_config_from(&env)
}

pub(crate) fn local_config_from(get: Lookup<'_>) -> Result<LocalConfig, EmbedError> {
    let mut cfg = LocalConfig::default();
    if let Some(n) = get("FLEET_EMBED_THREADS") {
        cfg.threads = Some(positive("FLEET_EMBED_THREADS", &n)?);
    }
    Ok(cfg)
}

pub(crate) fn openai_config_from_env() -> Result<Option<OpenAiConfig>, EmbedError> {
    openai_config_from(&env)
}

pub(crate) fn openai_config_from(get: Lookup<'_>) -> Result<Option<OpenAiConfig>, EmbedError> {
    let Some(base_url) = get("FLEET_EMBED_BASE_URL") else {
        return Ok(None);
    };
    let model = get("FLEET_EMBED_MODEL").ok_or_else(|| {
        EmbedError::NotConfigured("FLEET_EMBED_MODEL must be set with FLEET_EMBED_BASE_URL".into())
    })?;
    let dimensions = match get("FLEET_EMBED_DIMENSIONS") {
        Some(d) => positive("FLEET_EMBED_DIMENSIONS", &d)?,
        None => known_dimensions(&model).ok_or_else(|| {
            EmbedError::NotConfigured(format!(
                "FLEET_EMBED_DIMENSIONS must be set for model {model:?}"
            ))
        })?,
    };
    let api_key = match get("FLEET_EMBED_API_KEY_FILE") {
        Some(path) => Some(read_key(&path)?),
        None => None,
    };
    let mut cfg = OpenAiConfig::new(base_url.trim(), model.trim(), dimensions);
    cfg.api_key = api_key;
    if let Some(s) = get("FLEET_EMBED_TIMEOUT_SECS") {
        cfg.timeout = Duration::from_secs(positive("FLEET_EMBED_TIMEOUT_SECS", &s)? as u64);
    }
    if let Some(r) = get("FLEET_EMBED_MAX_RETRIES") {
        cfg.max_retries = r.trim().parse().map_err(|_| {
            EmbedError::NotConfigured(format!("FLEET_EMBED_MAX_RETRIES {r:?} is not a number"))
        })?;
    }
    Ok(Some(cfg))
}

/// The vector length of the providers' common models, so the setting can be left out for them.
fn known_dimensions(model: &str) -> Option<usize> {
    match model {
        "text-embedding-3-small" | "text-embedding-ada-002" => Some(1536),
        "text-embedding-3-large" => Some(3072),
        "all-MiniLM-L6-v2" | "sentence-transformers/all-MiniLM-L6-v2" => Some(384),
        _ => None,
    }
}

fn read_key(path: &str) -> Result<String, EmbedError> {
    // The key itself never appears in an error or a log line; only the file's path does.
    let key = std::fs::read_to_string(path.trim())
        .map_err(|e| EmbedError::NotConfigured(format!("FLEET_EMBED_API_KEY_FILE {path}: {e}")))?;
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(EmbedError::NotConfigured(format!(
            "FLEET_EMBED_API_KEY_FILE {path} is empty"
        )));
    }
    Ok(key)
}

fn positive(name: &str, value: &str) -> Result<usize, EmbedError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            EmbedError::NotConfigured(format!("{name} {value:?} is not a positive number"))
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_model_dir_setting_wins_over_the_pointer_file() {
        let get = lookup(&[(MODEL_DIR_ENV, "/opt/minilm"), ("HOME", "/nonexistent")]);
        assert_eq!(
            model_dir_from(&get).expect("dir"),
            PathBuf::from("/opt/minilm")
        );
    }

    #[test]
    fn the_pointer_file_is_read_under_xdg_cache_home() -> anyhow::Result<()> {
        let tmp = std::env::temp_dir().join(format!("embed-settings-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("fleet-tools"))?;
        std::fs::write(tmp.join(POINTER), "/models/minilm\n")?;
        let xdg = tmp.to_string_lossy().to_string();
        let get = lookup(&[("XDG_CACHE_HOME", &xdg), ("HOME", "/nonexistent")]);
        assert_eq!(model_dir_from(&get)?, PathBuf::from("/models/minilm"));
        std::fs::remove_dir_all(&tmp)?;
        Ok(())
    }

    #[test]
    fn a_missing_pointer_file_is_a_typed_error_naming_it() {
        let get = lookup(&[("HOME", "/nonexistent-home")]);
        match model_dir_from(&get) {
            Err(EmbedError::NotConfigured(msg)) => {
                assert!(
                    msg.contains("/nonexistent-home/.cache/fleet-tools/embed-model-dir"),
                    "{msg}"
                )
            }
            other => panic!("expected NotConfigured, got {other:?}"),
        }
    }

    #[test]
    fn without_a_base_url_the_local_model_is_chosen() {
        assert!(openai_config_from(&lookup(&[])).expect("ok").is_none());
    }

    #[test]
    fn a_base_url_without_a_model_is_refused_by_name() {
        let err = openai_config_from(&lookup(&[("FLEET_EMBED_BASE_URL", "http://x/v1")]))
            .expect_err("refused");
        assert!(err.to_string().contains("FLEET_EMBED_MODEL"), "{err}");
    }

    #[test]
    fn an_unknown_model_needs_its_dimensions() {
        let get = lookup(&[
            ("FLEET_EMBED_BASE_URL", "http://x/v1"),
            ("FLEET_EMBED_MODEL", "acme-embed"),
        ]);
        let err = openai_config_from(&get).expect_err("refused");
        assert!(err.to_string().contains("FLEET_EMBED_DIMENSIONS"), "{err}");
        let get = lookup(&[
            ("FLEET_EMBED_BASE_URL", "http://x/v1"),
            ("FLEET_EMBED_MODEL", "text-embedding-3-small"),
        ]);
        let cfg = openai_config_from(&get).expect("ok").expect("some");
        assert_eq!(cfg.dimensions, 1536);
    }

    #[test]
    fn a_thread_count_of_zero_is_refused() {
        let err = local_config_from(&lookup(&[("FLEET_EMBED_THREADS", "0")])).expect_err("no");
        assert!(err.to_string().contains("FLEET_EMBED_THREADS"), "{err}");
    }
}
