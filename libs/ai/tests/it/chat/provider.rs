//! The OpenAI-compatible client against wiremock replaying OpenAI's, vLLM's, Ollama's and a
//! proxy's streamed answers, and their failures.
use std::time::{Duration, Instant};

use ai::chat::{
    ChatError, ChatEvent, ChatModel, ChatRequest, FinishReason, Message, OpenAiChat, OpenAiConfig,
    ToolCall,
};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_partial_json, header, method, path},
};

use super::support::{ask, client, client_with, drain, fixture, stream_of, text_of};

fn sse(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream; charset=utf-8")
        .set_body_string(fixture(name))
}

async fn serving(name: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(sse(name))
        .mount(&server)
        .await;
    server
}

fn calls(events: &[ChatEvent]) -> Vec<ToolCall> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ToolCall(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn last(events: &[ChatEvent]) -> Option<&ChatEvent> {
    events.last()
}

#[tokio::test]
async fn an_openai_text_stream_yields_its_tokens_usage_and_cost() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test-not-a-real-key"))
        .and(body_partial_json(
            json!({"model": "gpt-4o-mini", "stream": true,
            "stream_options": {"include_usage": true}, "tool_choice": "auto"}),
        ))
        .respond_with(sse("openai_text.sse"))
        .expect(1)
        .mount(&server)
        .await;
    let (events, err) = stream_of(&client(&server), ask("Where is ORD-1234?")).await;
    assert_eq!(err, None);
    assert_eq!(text_of(&events), "Your order ORD-1234 has shipped.");
    let usage = events
        .iter()
        .find_map(|e| match e {
            ChatEvent::Usage(u) => Some(u.clone()),
            _ => None,
        })
        .expect("usage");
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.estimated
        ),
        (57, 8, false)
    );
    let cost = usage.cost_usd.expect("priced");
    assert!(
        (cost - (57.0 * 0.15 + 8.0 * 0.60) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    assert_eq!(last(&events), Some(&ChatEvent::Done(FinishReason::Stop)));
}

#[tokio::test]
async fn openai_parallel_tool_calls_split_mid_json_are_assembled_whole() {
    let server = serving("openai_tool_calls.sse").await;
    let (events, err) = stream_of(&client(&server), ask("Where is ORD-1234?")).await;
    assert_eq!(err, None);
    let calls = calls(&events);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_q5Vn8e1Xc9m0Lr2TbH7kWzPa");
    assert_eq!(calls[0].name, "get_order");
    assert_eq!(calls[0].arguments, json!({"order_id": "ORD-1234"}));
    assert_eq!(calls[1].name, "get_shipping_status");
    assert_eq!(
        calls[1].arguments,
        json!({"order_id": "ORD-1234", "carrier": "DHL"})
    );
    assert_eq!(
        last(&events),
        Some(&ChatEvent::Done(FinishReason::ToolCalls))
    );
}

#[tokio::test]
async fn a_vllm_tool_call_sent_name_first_then_arguments_is_assembled() {
    let server = serving("vllm_tool_call.sse").await;
    let (events, err) = stream_of(&client(&server), ask("Open a ticket")).await;
    assert_eq!(err, None);
    let calls = calls(&events);
    assert_eq!(calls[0].id, "chatcmpl-tool-4b7e2f0c9a1d4e8f");
    assert_eq!(
        calls[0].arguments,
        json!({"email": "ana@acme.com", "priority": "high", "seats": 3})
    );
    // vLLM's model, unpriced: no cost rather than a made-up one.
    let usage = events.iter().find_map(|e| match e {
        ChatEvent::Usage(u) => Some(u.clone()),
        _ => None,
    });
    let usage = usage.expect("usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (311, 31));
    assert_eq!(usage.cost_usd, None);
}

#[tokio::test]
async fn ollama_text_and_its_index_less_whole_tool_call_are_read() {
    let server = serving("ollama_text.sse").await;
    let (events, err) = stream_of(&client(&server), ask("Is INV-2024-001 paid?")).await;
    assert_eq!(err, None);
    assert_eq!(text_of(&events), "The invoice INV-2024-001 is paid.");

    let server = serving("ollama_tool_call_no_index.sse").await;
    let (events, err) = stream_of(&client(&server), ask("Where is ORD-1234?")).await;
    assert_eq!(err, None);
    let calls = calls(&events);
    assert_eq!(calls[0].id, "call_ytr3lk8n");
    assert_eq!(calls[0].arguments, json!({"order_id": "ORD-1234"}));
    // Older Ollama says "stop" even when it called a tool: reported as sent.
    assert_eq!(last(&events), Some(&ChatEvent::Done(FinishReason::Stop)));
}

#[tokio::test]
async fn a_proxy_with_crlf_comments_empty_finish_reasons_and_no_usage_is_read() {
    let server = serving("proxy_text_empty_finish.sse").await;
    let (events, err) = stream_of(&client(&server), ask("Say hello to Ana")).await;
    assert_eq!(err, None);
    assert_eq!(text_of(&events), "Hello, Ana!");
    let usage = events.iter().find_map(|e| match e {
        ChatEvent::Usage(u) => Some(u.clone()),
        _ => None,
    });
    let usage = usage.expect("usage");
    assert!(
        usage.estimated,
        "no usage was reported, so it is an estimate"
    );
    assert_eq!(usage.completion_tokens, 4);
    assert_eq!(
        last(&events),
        Some(&ChatEvent::Done(FinishReason::Other(String::new())))
    );
}

#[tokio::test]
async fn a_truncated_stream_ends_in_a_malformed_error_after_its_tokens() {
    let server = serving("truncated.sse").await;
    let (events, err) = stream_of(&client(&server), ask("Where is ORD-1234?")).await;
    assert!(matches!(err, Some(ChatError::Malformed(_))), "{err:?}");
    assert_eq!(text_of(&events), "Your order ORD-1234");
    assert!(!events.iter().any(|e| matches!(e, ChatEvent::Done(_))));
}

#[tokio::test]
async fn invalid_tool_call_json_and_an_unknown_tool_are_typed_errors() {
    let server = serving("invalid_tool_json.sse").await;
    let (events, err) = stream_of(&client(&server), ask("Where is ORD-1234?")).await;
    assert!(
        matches!(&err, Some(ChatError::BadToolArguments { tool, .. }) if tool == "get_order"),
        "{err:?}"
    );
    assert!(calls(&events).is_empty());

    let server = serving("unknown_tool.sse").await;
    let (_, err) = stream_of(&client(&server), ask("Delete everything")).await;
    assert_eq!(
        err,
        Some(ChatError::UnknownTool("delete_all_orders".into()))
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_the_answer_streams() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-remaining-tokens", "188")
                .set_body_string(fixture("openai_429.json")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(sse("openai_text.sse"))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let (events, err) = stream_of(&client(&server), ask("Where is ORD-1234?")).await;
    assert_eq!(err, None);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(text_of(&events), "Your order ORD-1234 has shipped.");
}

#[tokio::test]
async fn a_retry_after_longer_than_we_wait_fails_rate_limited_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .set_body_string(fixture("openai_429.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).complete(ask("hi")).await.expect_err("429");
    assert_eq!(
        err,
        ChatError::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        }
    );
}

#[tokio::test]
async fn a_500_is_retried_with_backoff_then_reported_with_the_providers_words() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string(fixture("openai_500.json")))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server).complete(ask("hi")).await.expect_err("500");
    match err {
        ChatError::Provider { status, message } => {
            assert_eq!(status, Some(500));
            assert!(message.starts_with("The server had an error"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_400_is_the_requests_fault_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "This model's maximum context length is 128000 tokens.",
            "type": "invalid_request_error", "param": "messages",
            "code": "context_length_exceeded"}})))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).complete(ask("hi")).await.expect_err("400");
    assert!(
        matches!(
            err,
            ChatError::Provider {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unstreamed_answer_gives_checked_tool_calls_and_keeps_an_empty_finish_reason() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"stream": false})))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(fixture("openai_completion_tool_call.json")),
        )
        .mount(&server)
        .await;
    let r = client(&server)
        .complete(ask("Where is ORD-1234?"))
        .await
        .expect("answer");
    assert_eq!(r.tool_calls[0].name, "get_order");
    assert_eq!(r.tool_calls[0].arguments, json!({"order_id": "ORD-1234"}));
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (82, 17));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(fixture("completion_empty_finish.json")),
        )
        .mount(&server)
        .await;
    let r = client(&server).complete(ask("hi")).await.expect("answer");
    assert_eq!(r.message.content, "Done.");
    assert_eq!(r.finish_reason, FinishReason::Other(String::new()));
    assert_eq!(r.model, "deepseek-chat");
}

#[tokio::test]
async fn a_slow_provider_times_out_instead_of_hanging() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse("openai_text.sse").set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let c = client_with(&server, |c| c.timeout = Duration::from_millis(300));
    let started = Instant::now();
    let err = c.stream(ask("hi")).await.err();
    assert_eq!(err, Some(ChatError::Timeout(Duration::from_millis(300))));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn garbage_instead_of_a_completion_is_malformed_not_a_panic() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>502 Bad Gateway</html>"))
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c.complete(ask("hi")).await.expect_err("garbage");
    assert!(matches!(err, ChatError::Malformed(_)), "{err:?}");
    let (_, err) = stream_of(&c, ask("hi")).await;
    assert!(matches!(err, Some(ChatError::Malformed(_))), "{err:?}");
}

#[tokio::test]
async fn a_bad_request_is_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse("openai_text.sse"))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server);
    let empty = c
        .complete(ChatRequest::new(vec![]))
        .await
        .expect_err("empty");
    assert!(matches!(empty, ChatError::BadRequest(m) if m.starts_with("messages")));
    let mut bad_tool = ask("hi");
    bad_tool.tools[0].name = "has spaces".into();
    assert!(
        matches!(c.complete(bad_tool).await, Err(ChatError::BadRequest(m)) if m.starts_with("tools[0].name"))
    );
    let orphan = ChatRequest::new(vec![
        Message::user("hi"),
        Message {
            tool_call_id: None,
            ..Message::tool("x", "{}")
        },
    ]);
    assert!(matches!(
        c.stream(orphan).await.err(),
        Some(ChatError::BadRequest(_))
    ));
}

#[tokio::test]
async fn the_conversation_and_context_are_sent_in_the_providers_format() {
    let server = MockServer::start().await;
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_order".into(),
        arguments: json!({"order_id": "ORD-1234"}),
    };
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"messages": [
            {"role": "system", "content": "You help Acme's customers."},
            {"role": "system", "content": "Answer only from this context; cite the source in brackets.\n[faq.md] Returns take 14 days.\n"},
            {"role": "user", "content": "Where is ORD-1234?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_order", "arguments": "{\"order_id\":\"ORD-1234\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\":\"shipped\"}"}],
            "max_tokens": 64, "temperature": 0.0})))
        .respond_with(sse("openai_text.sse"))
        .expect(1)
        .mount(&server)
        .await;
    let mut r = ask("Where is ORD-1234?").with_context(vec![ai::chat::Passage {
        source: "faq.md".into(),
        text: "Returns take 14 days.".into(),
    }]);
    r.messages.push(Message::assistant_calls(vec![call]));
    r.messages
        .push(Message::tool("call_1", "{\"status\":\"shipped\"}"));
    r.max_tokens = Some(64);
    r.temperature = Some(0.0);
    let (_, err) = drain(client(&server).stream(r).await.expect("stream")).await;
    assert_eq!(err, None);
}

#[test]
fn errors_become_problems_a_caller_can_answer() {
    use problem::Problem;
    let p: Problem = ChatError::BudgetExceeded {
        limit: 10,
        used: 9,
        requested: 5,
        retry_after: Duration::from_secs(30),
    }
    .into();
    assert_eq!(p.status().as_u16(), 429);
    let p: Problem = ChatError::UnknownTool("x".into()).into();
    assert_eq!(p.status().as_u16(), 502);
    assert!(
        !p.detail().contains('x'),
        "the model's words stay in the log"
    );
    let p: Problem = ChatError::Timeout(Duration::from_secs(1)).into();
    assert_eq!(p.status().as_u16(), 504);
    let p: Problem = ChatError::BadRequest("messages: at least one".into()).into();
    assert_eq!(p.status().as_u16(), 400);
}

/// A server that sends the headers and one chunk, then nothing more for `stall`.
async fn stalling_server(stall: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = sock.read(&mut buf).await;
                let event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                let chunk = format!("{head}{:x}\r\n{event}\r\n", event.len());
                let _ = sock.write_all(chunk.as_bytes()).await;
                tokio::time::sleep(stall).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_stream_that_goes_silent_is_cut_off_by_the_idle_timeout() {
    let url = stalling_server(Duration::from_secs(10)).await;
    let mut cfg = OpenAiConfig::new(url, "gpt-4o-mini");
    cfg.idle_timeout = Duration::from_millis(300);
    let c = OpenAiChat::new(cfg).expect("client");
    let started = Instant::now();
    let (events, err) = stream_of(&c, ask("hi")).await;
    assert_eq!(text_of(&events), "Hi");
    assert_eq!(err, Some(ChatError::Timeout(Duration::from_millis(300))));
    assert!(started.elapsed() < Duration::from_secs(3));
}
