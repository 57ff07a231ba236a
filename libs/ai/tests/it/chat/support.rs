//! What the chat tests share: fixtures, a mock provider, a client configured for it, tools.
use std::time::Duration;

use ai::chat::{
    ChatError, ChatEvent, ChatModel, ChatRequest, ChatStream, Message, OpenAiChat, OpenAiConfig,
    Prices, ToolDef,
};
use futures::StreamExt;
use serde_json::json;
use wiremock::MockServer;

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/chat/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A client for `server` with fast retries, a key and a price for the fixtures' model.
pub fn client(server: &MockServer) -> OpenAiChat {
    client_with(server, |_| {})
}

pub fn client_with(server: &MockServer, tune: impl FnOnce(&mut OpenAiConfig)) -> OpenAiChat {
    let mut cfg = OpenAiConfig::new(format!("{}/v1", server.uri()), "gpt-4o-mini");
    cfg.api_key = Some("sk-test-not-a-real-key".into());
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(40);
    cfg.timeout = Duration::from_secs(5);
    cfg.prices = Prices::parse("gpt-4o-mini-2024-07-18=0.15/0.60").expect("prices");
    tune(&mut cfg);
    OpenAiChat::new(cfg).expect("client")
}

/// The tools the provider fixtures call.
pub fn order_tools() -> Vec<ToolDef> {
    let order = json!({"type": "object", "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"]});
    vec![
        ToolDef::new("get_order", "Look up an order", order.clone()),
        ToolDef::new("get_shipping_status", "Where an order's parcel is", order),
        ToolDef::new(
            "create_ticket",
            "Open a support ticket",
            json!({"type": "object", "properties": {"email": {"type": "string"},
                "priority": {"type": "string", "enum": ["low", "high"]},
                "seats": {"type": "integer"}}}),
        ),
    ]
}

pub fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![
        Message::system("You help Acme's customers."),
        Message::user(text),
    ])
    .with_tools(order_tools())
}

/// Every event of a stream, the error (if any) last.
pub async fn drain(mut s: ChatStream) -> (Vec<ChatEvent>, Option<ChatError>) {
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ev) => events.push(ev),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

pub fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Token(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

pub async fn stream_of(
    model: &dyn ChatModel,
    r: ChatRequest,
) -> (Vec<ChatEvent>, Option<ChatError>) {
    match model.stream(r).await {
        Ok(s) => drain(s).await,
        Err(e) => (Vec::new(), Some(e)),
    }
}
