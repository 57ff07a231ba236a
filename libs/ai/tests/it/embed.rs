//! Embeddings: the local all-MiniLM-L6-v2 model against the reference implementation's vectors,
//! and the OpenAI-compatible client against a local mock replaying a provider's answers.
use std::{sync::Arc, time::Duration};

use ai::embed::{
    self, EmbedError, Embedder, LocalConfig, LocalEmbedder, OpenAiConfig, OpenAiEmbedder,
};
use serde::Deserialize;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_partial_json, header, method, path},
};

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    vector: Vec<f32>,
}

fn reference() -> anyhow::Result<Reference> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm_reference.json"
    ))?;
    Ok(serde_json::from_str(&text)?)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[tokio::test]
async fn the_local_model_matches_the_reference_implementation() -> anyhow::Result<()> {
    let reference = reference()?;
    assert_eq!(reference.max_seq_length, 256);
    let model = embed::local_default()?;
    assert_eq!(model.dimensions(), 384);
    let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();
    let vectors = model.embed(&texts).await?;
    assert_eq!(vectors.len(), texts.len());
    for (case, got) in reference.cases.iter().zip(&vectors) {
        let c = cosine(&case.vector, got);
        eprintln!("cosine to the reference {c:.6}: {:.40}", case.text);
        assert!(c >= 0.999, "cosine {c} for {:?}", case.text);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    // And the sentences are told apart: no two different ones come out the same.
    assert!(cosine(&vectors[0], &vectors[1]) < 0.5);
    Ok(())
}

#[tokio::test]
async fn a_batch_gives_each_text_the_vector_it_gets_alone() -> anyhow::Result<()> {
    let model = embed::local_default()?;
    let texts = vec![
        "short".to_owned(),
        "a much longer sentence, so the short one is padded in the batch".to_owned(),
    ];
    let together = model.embed(&texts).await?;
    for (text, batched) in texts.iter().zip(&together) {
        let alone = model.embed_one(text).await?;
        assert!(cosine(&alone, batched) > 0.9999, "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_callers_share_one_model_and_get_their_own_vectors() -> anyhow::Result<()> {
    let a = embed::local_default()?;
    let b = embed::local_default()?;
    assert!(std::ptr::addr_eq(Arc::as_ptr(&a), Arc::as_ptr(&b)));
    let reference = reference()?;
    let mut tasks = Vec::new();
    for case in reference.cases.into_iter().take(4) {
        let model = a.clone();
        tasks.push(tokio::spawn(async move {
            let got = model.embed_one(&case.text).await?;
            Ok::<f32, EmbedError>(cosine(&case.vector, &got))
        }));
    }
    for t in tasks {
        let c = t.await??;
        assert!(c >= 0.999, "cosine {c}");
    }
    Ok(())
}

#[tokio::test]
async fn a_bounded_thread_count_gives_the_same_vectors() -> anyhow::Result<()> {
    let dir = embed::model_dir()?;
    let one = LocalEmbedder::load(
        &dir,
        LocalConfig {
            threads: Some(1),
            ..LocalConfig::default()
        },
    )?;
    let case = &reference()?.cases[1];
    let got = one.embed_blocking(std::slice::from_ref(&case.text))?;
    assert!(cosine(&case.vector, &got[0]) >= 0.999);
    Ok(())
}

#[test]
fn a_missing_model_dir_is_a_typed_error_naming_the_path() {
    let missing = std::env::temp_dir().join("no-such-minilm-dir");
    match LocalEmbedder::load(&missing, LocalConfig::default()) {
        Err(e @ EmbedError::ModelMissing { .. }) => {
            assert!(
                e.to_string().contains(&missing.display().to_string()),
                "{e}"
            )
        }
        Err(other) => panic!("expected ModelMissing, got {other}"),
        Ok(_) => panic!("a missing directory loaded"),
    }
}

#[test]
fn a_model_dir_without_its_weights_names_the_missing_file() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("minilm-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let real = embed::model_dir()?;
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(real.join(f), dir.join(f))?;
    }
    let err = LocalEmbedder::load(&dir, LocalConfig::default())
        .err()
        .ok_or_else(|| anyhow::anyhow!("loaded without weights"))?;
    std::fs::remove_dir_all(&dir)?;
    assert!(matches!(err, EmbedError::ModelMissing { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    Ok(())
}

#[tokio::test]
async fn empty_and_oversized_texts_are_refused_as_bad_input() -> anyhow::Result<()> {
    let model = embed::local_default()?;
    let err = model
        .embed(&["fine".into(), String::new()])
        .await
        .expect_err("empty text");
    assert!(matches!(err, EmbedError::Input(_)), "{err}");
    let huge = "word ".repeat(100_000);
    let err = model.embed(&[huge]).await.expect_err("oversized");
    assert!(err.to_string().contains("text 0"), "{err}");
    assert!(model.embed(&[]).await?.is_empty());
    Ok(())
}

// --- the OpenAI-compatible client ------------------------------------------------------------

fn client(server: &MockServer, dims: usize) -> anyhow::Result<OpenAiEmbedder> {
    let mut cfg = OpenAiConfig::new(
        &format!("{}/v1", server.uri()),
        "text-embedding-3-small",
        dims,
    );
    cfg.api_key = Some("sk-test-not-a-real-key".into());
    cfg.initial_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(50);
    cfg.max_retries = 2;
    Ok(OpenAiEmbedder::new(cfg)?)
}

/// An answer shaped as OpenAI's `/v1/embeddings` gives it (the vectors shortened to `dims`).
fn answer(vectors: &[(usize, Vec<f32>)]) -> serde_json::Value {
    json!({
        "object": "list",
        "data": vectors.iter().map(|(i, v)| json!({
            "object": "embedding", "index": i, "embedding": v
        })).collect::<Vec<_>>(),
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 9, "total_tokens": 9}
    })
}

fn rate_limited() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .insert_header("x-ratelimit-limit-requests", "3000")
        .insert_header("x-ratelimit-remaining-requests", "0")
        .set_body_json(json!({"error": {
            "message": "Rate limit reached for text-embedding-3-small in organization org-abc on requests per min (RPM): Limit 3000, Used 3000, Requested 1. Please try again in 20ms.",
            "type": "requests", "param": null, "code": "rate_limit_exceeded"
        }}))
}

#[tokio::test]
async fn the_openai_client_returns_normalised_vectors_in_input_order() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-test-not-a-real-key"))
        .and(body_partial_json(json!({
            "model": "text-embedding-3-small",
            "input": ["first", "second"],
            "encoding_format": "float"
        })))
        // Listed out of order: the client places vectors by their index.
        .respond_with(ResponseTemplate::new(200).set_body_json(answer(&[
            (1, vec![0.0, 3.0, 4.0]),
            (0, vec![1.0, 0.0, 0.0]),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let got = client(&server, 3)?
        .embed(&["first".into(), "second".into()])
        .await?;
    assert_eq!(got, vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]]);
    Ok(())
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_a_backoff() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(rate_limited())
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer(&[(0, vec![0.6, 0.8])])))
        .expect(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let got = client(&server, 2)?.embed_one("hello").await?;
    assert_eq!(got, vec![0.6, 0.8]);
    // Retry-After (1 s) is honoured up to the configured ceiling (50 ms).
    assert!(started.elapsed() >= Duration::from_millis(50));
    Ok(())
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_a_typed_error_after_the_retries() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": {
            "message": "The server is overloaded or not ready yet.",
            "type": "server_error", "param": null, "code": null
        }})))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server, 2)?
        .embed_one("hello")
        .await
        .expect_err("failed");
    let msg = err.to_string();
    assert!(matches!(err, EmbedError::Provider(_)), "{msg}");
    assert!(
        msg.contains("503") && msg.contains("overloaded") && msg.contains("3 attempts"),
        "{msg}"
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_key_is_not_retried_and_says_why() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": "Incorrect API key provided: sk-test-***-key. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"
        }})))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, 2)?
        .embed_one("hello")
        .await
        .expect_err("401");
    let msg = err.to_string();
    assert!(
        msg.contains("401") && msg.contains("Incorrect API key"),
        "{msg}"
    );
    assert!(
        !msg.contains("sk-test-not-a-real-key"),
        "the key leaked: {msg}"
    );
    Ok(())
}

#[tokio::test]
async fn malformed_answers_are_typed_errors() -> anyhow::Result<()> {
    let bodies = [
        ResponseTemplate::new(200).set_body_string("{\"object\":\"list\",\"data\":[{\"index\":0,"),
        ResponseTemplate::new(200).set_body_json(answer(&[(0, vec![1.0, 0.0, 0.0])])),
        ResponseTemplate::new(200).set_body_json(answer(&[])),
        ResponseTemplate::new(200).set_body_json(answer(&[(7, vec![1.0, 0.0])])),
        ResponseTemplate::new(200).set_body_string("<html>502 Bad Gateway</html>"),
    ];
    for (n, body) in bodies.into_iter().enumerate() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(body)
            .mount(&server)
            .await;
        let err = client(&server, 2)?
            .embed_one("hello")
            .await
            .expect_err("malformed");
        assert!(
            matches!(&err, EmbedError::Provider(m) if m.contains("malformed answer")),
            "case {n}: {err}"
        );
    }
    Ok(())
}

#[test]
fn a_base_url_that_is_not_http_is_refused() {
    let err = OpenAiEmbedder::new(OpenAiConfig::new("ftp://example.com/v1", "m", 3))
        .expect_err("refused");
    assert!(err.to_string().contains("FLEET_EMBED_BASE_URL"), "{err}");
}
