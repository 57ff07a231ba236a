//! The local model with the real embedder (all-MiniLM-L6-v2): tool picks for paraphrased
//! requests, refusals below the threshold, questions for missing arguments, answers only from
//! tool results and context, and streaming that says what `complete` says.
use std::sync::Arc;

use ai::chat::{
    ChatModel, ChatRequest, FinishReason, LocalConfig, LocalModel, Message, Passage, ToolCall,
    ToolDef, collect,
};
use serde_json::json;

fn model() -> LocalModel {
    let embedder = ai::embed::local_default().expect("the local embedding model is installed");
    LocalModel::new(embedder, LocalConfig::default())
}

fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef::new(
            "get_order_status",
            "Look up the status and delivery date of a customer's order",
            json!({"type": "object", "properties": {
                "order_id": {"type": "string", "description": "The order number, like ORD-1234"}},
                "required": ["order_id"]}),
        ),
        ToolDef::new(
            "create_support_ticket",
            "Open a support ticket for a problem or bug a customer reports",
            json!({"type": "object", "properties": {
                "email": {"type": "string", "format": "email"},
                "priority": {"type": "string", "enum": ["low", "normal", "high"]}},
                "required": ["email"]}),
        ),
        ToolDef::new(
            "schedule_demo",
            "Book a product demo meeting with the sales team on a date",
            json!({"type": "object", "properties": {
                "date": {"type": "string", "format": "date"},
                "attendees": {"type": "integer", "minimum": 1, "maximum": 50}},
                "required": ["date"]}),
        ),
        ToolDef::new(
            "quote_price",
            "Estimate the monthly price for a number of seats on a pricing plan",
            json!({"type": "object", "properties": {
                "seats": {"type": "integer", "minimum": 1},
                "plan": {"type": "string", "enum": ["starter", "professional", "enterprise"]}},
                "required": ["seats", "plan"]}),
        ),
        ToolDef::new(
            "cancel_subscription",
            "Cancel a customer's subscription and stop future billing",
            json!({"type": "object", "properties": {
                "account_id": {"type": "string"}, "immediately": {"type": "boolean"}},
                "required": ["account_id"]}),
        ),
    ]
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)]).with_tools(tools())
}

#[tokio::test]
async fn the_right_tool_among_five_is_picked_for_paraphrased_requests() {
    let m = model();
    let cases = [
        (
            "Where is my package? It's order ORD-1234",
            "get_order_status",
            json!({"order_id": "ORD-1234"}),
        ),
        (
            "Has order ORD-77 been delivered yet?",
            "get_order_status",
            json!({"order_id": "ORD-77"}),
        ),
        (
            "The app keeps crashing, please open a ticket, high priority. I'm ana@acme.com",
            "create_support_ticket",
            json!({"email": "ana@acme.com", "priority": "high"}),
        ),
        (
            "Can I see a demo of the product on 2025-03-14 with 4 attendees?",
            "schedule_demo",
            json!({"date": "2025-03-14", "attendees": 4}),
        ),
        (
            "How much would 25 seats cost per month on the professional plan?",
            "quote_price",
            json!({"seats": 25, "plan": "professional"}),
        ),
        (
            "Please stop charging me and end my subscription, account ACC-9921",
            "cancel_subscription",
            json!({"account_id": "ACC-9921"}),
        ),
    ];
    for (text, tool, args) in cases {
        let r = m.complete(ask(text)).await.expect("answer");
        assert_eq!(
            r.finish_reason,
            FinishReason::ToolCalls,
            "{text}: {}",
            r.message.content
        );
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(r.tool_calls[0].name, tool, "{text}");
        assert_eq!(r.tool_calls[0].arguments, args, "{text}");
        assert_eq!(r.usage.cost_usd, Some(0.0));
    }
}

#[tokio::test]
async fn a_request_below_the_threshold_is_refused_with_what_the_model_can_do() {
    let m = model();
    for text in [
        "What's the weather like on Mars tonight?",
        "Write me a poem about autumn leaves",
    ] {
        let r = m.complete(ask(text)).await.expect("answer");
        assert!(r.tool_calls.is_empty(), "{text}: {:?}", r.tool_calls);
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert!(
            r.message.content.starts_with("I can't help with that."),
            "{}",
            r.message.content
        );
        for t in tools() {
            assert!(r.message.content.contains(&t.name), "{}", r.message.content);
        }
    }
    // The same request is picked when the threshold is lowered below its score.
    let lenient = LocalModel::new(
        ai::embed::local_default().expect("model"),
        LocalConfig {
            tool_threshold: -1.0,
            context_threshold: 0.35,
        },
    );
    let r = lenient
        .complete(ask("What's the weather like on Mars tonight?"))
        .await
        .expect("answer");
    assert!(
        !r.tool_calls.is_empty() || r.message.content.starts_with("To "),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_missing_required_argument_is_asked_for_instead_of_called() {
    let r = model()
        .complete(ask("Where is my order? It hasn't arrived"))
        .await
        .expect("answer");
    assert!(r.tool_calls.is_empty(), "{:?}", r.tool_calls);
    assert_eq!(
        r.message.content,
        "To look up the status and delivery date of a customer's order I need: \
         order id (The order number, like ORD-1234). Please tell me."
    );
}

#[tokio::test]
async fn the_users_answer_to_its_question_completes_the_call() {
    let m = model();
    let first = ask("Where is my order? It hasn't arrived");
    let asked = m.complete(first.clone()).await.expect("answer");
    let mut r = first;
    r.messages.push(asked.message);
    r.messages.push(Message::user("ORD-4411"));
    let r = m.complete(r).await.expect("answer");
    assert_eq!(r.tool_calls.len(), 1, "{}", r.message.content);
    assert_eq!(r.tool_calls[0].name, "get_order_status");
    assert_eq!(r.tool_calls[0].arguments, json!({"order_id": "ORD-4411"}));
}

fn after_call(question: &str, tool: &str, args: serde_json::Value, result: &str) -> ChatRequest {
    let call = ToolCall {
        id: "call_1".into(),
        name: tool.into(),
        arguments: args,
    };
    ChatRequest::new(vec![
        Message::user(question),
        Message::assistant_calls(vec![call]),
        Message::tool("call_1", result),
    ])
    .with_tools(tools())
}

#[tokio::test]
async fn after_a_tool_result_it_answers_from_the_result_fields_the_question_names_first() {
    let r = model()
        .complete(after_call(
            "When will ORD-1234 be delivered?",
            "get_order_status",
            json!({"order_id": "ORD-1234"}),
            r#"{"order_id":"ORD-1234","status":"shipped","carrier":"DHL","delivery":{"date":"2025-03-18"}}"#,
        ))
        .await
        .expect("answer");
    assert!(r.tool_calls.is_empty());
    assert_eq!(
        r.message.content,
        "get_order_status returned delivery.date: 2025-03-18; carrier: DHL; \
         order_id: ORD-1234; status: shipped."
    );
}

#[tokio::test]
async fn context_is_quoted_with_its_source_and_irrelevant_context_is_not() {
    let m = model();
    let context = vec![
        Passage { source: "refunds.md".into(), text: "Refunds are paid within 14 days of the return arriving. Shipping costs are not refunded.".into() },
        Passage { source: "office.md".into(), text: "The Lisbon office has a rooftop terrace.".into() },
    ];
    let r = m
        .complete(
            ChatRequest::new(vec![Message::user("How long until I get my refund?")])
                .with_context(context.clone()),
        )
        .await
        .expect("answer");
    assert!(r.message.content.starts_with("From what I was given: \"Refunds are paid within 14 days of the return arriving\" [refunds.md]"), "{}", r.message.content);
    assert!(
        !r.message.content.contains("Lisbon"),
        "{}",
        r.message.content
    );
    let r = m
        .complete(
            ChatRequest::new(vec![Message::user("Who won the football match yesterday?")])
                .with_context(context),
        )
        .await
        .expect("answer");
    assert_eq!(
        r.message.content,
        "I can't help with that: nothing I was given covers it."
    );
}

/// Numbers and capitalised names in `out` that appear nowhere in `inputs`.
fn invented(out: &str, inputs: &str) -> Vec<String> {
    const PHRASING: &[&str] = &["I", "From", "To", "Please", "What"];
    out.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '@' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .filter(|w| {
            w.chars().any(|c| c.is_ascii_digit())
                || w.chars().next().is_some_and(char::is_uppercase)
        })
        .filter(|w| !PHRASING.contains(w) && !inputs.contains(*w))
        .map(str::to_string)
        .collect()
}

fn inputs_of(r: &ChatRequest) -> String {
    serde_json::to_string(r).expect("json")
}

#[tokio::test]
async fn no_number_or_name_is_stated_that_its_inputs_do_not_contain() {
    let m = model();
    let mut requests = vec![
        ask("Where is my package? It's order ORD-1234"),
        ask("How much would 25 seats cost on the enterprise plan?"),
        ask("How much would seats cost?"),
        ask("Tell me the CEO's phone number"),
        ask("Book a demo for 12 people"),
        after_call(
            "Is it paid?",
            "quote_price",
            json!({"seats": 25, "plan": "starter"}),
            r#"{"monthly_total": 1225.5, "currency": "EUR", "per_seat": 49.02, "discount": null}"#,
        ),
        after_call(
            "Status?",
            "get_order_status",
            json!({"order_id": "ORD-5"}),
            "Order ORD-5 is held at customs in Rotterdam since 2025-02-02.",
        ),
        after_call(
            "And the tracking?",
            "get_order_status",
            json!({"order_id": "ORD-5"}),
            "[]",
        ),
        ChatRequest::new(vec![
            Message::system("Acme Cloud costs 40 EUR per seat. Support answers within 4 hours."),
            Message::user("How quickly does support answer?"),
        ]),
    ];
    requests.push(ChatRequest::new(vec![Message::assistant("Hello from Zed")]));
    for r in requests {
        let inputs = inputs_of(&r);
        let out = m.complete(r).await.expect("answer");
        // The call ids are the model's own handles, not statements.
        let args: Vec<_> = out
            .tool_calls
            .iter()
            .map(|c| (&c.name, &c.arguments))
            .collect();
        let said = format!(
            "{} {}",
            out.message.content,
            serde_json::to_string(&args).expect("json")
        );
        let extra = invented(&said, &inputs);
        assert!(extra.is_empty(), "invented {extra:?} in {said}");
    }
}

#[tokio::test]
async fn streaming_yields_the_same_answer_as_complete() {
    let m = Arc::new(model());
    for r in [
        ask("How much would 25 seats cost per month on the professional plan?"),
        ask("Where is my order? It hasn't arrived"),
        ask("What's the weather like on Mars tonight?"),
        after_call(
            "Status?",
            "get_order_status",
            json!({"order_id": "ORD-5"}),
            r#"{"status": "held", "where": "Rotterdam"}"#,
        ),
    ] {
        let whole = m.complete(r.clone()).await.expect("complete");
        let events = m.stream(r).await.expect("stream");
        let streamed = collect(events, ai::chat::LOCAL_MODEL_NAME)
            .await
            .expect("collect");
        assert_eq!(streamed.message.content, whole.message.content);
        assert_eq!(streamed.tool_calls, whole.tool_calls);
        assert_eq!(streamed.finish_reason, whole.finish_reason);
        assert_eq!(
            streamed.usage.completion_tokens,
            whole.usage.completion_tokens
        );
    }
    // Token by token: more than one piece for a sentence.
    let mut s = m
        .stream(ask("What's the weather like on Mars tonight?"))
        .await
        .expect("stream");
    let mut tokens = 0;
    while let Some(ev) = futures::StreamExt::next(&mut s).await {
        if matches!(ev.expect("event"), ai::chat::ChatEvent::Token(_)) {
            tokens += 1;
        }
    }
    assert!(tokens > 10, "{tokens}");
}

#[tokio::test]
async fn hostile_requests_get_an_answer_or_a_typed_error_never_a_panic() {
    let m = model();
    // A megabyte: the model reads its start; the arguments come from the whole text.
    let huge = "Where is my order ORD-1234? ".repeat(40_000);
    let r = m
        .complete(ask(&huge))
        .await
        .expect("a megabyte message is answered");
    assert_eq!(r.tool_calls.len(), 1, "{}", r.message.content);
    assert_eq!(r.tool_calls[0].arguments, json!({"order_id": "ORD-1234"}));
    let r = m
        .complete(ask("?!?!"))
        .await
        .expect("punctuation is answered");
    assert!(
        r.message.content.starts_with("I can't help"),
        "{}",
        r.message.content
    );
    let no_user = ChatRequest::new(vec![Message::system("Be nice.")]).with_tools(tools());
    let r = m.complete(no_user).await.expect("answered");
    assert!(r.message.content.starts_with("I can't help"));
    let mut unknown = ask("hi");
    unknown.tool_choice = ai::chat::ToolChoice::Tool("nope".into());
    assert!(matches!(
        m.complete(unknown).await,
        Err(ai::chat::ChatError::BadRequest(_))
    ));
    let mut bad_schema = ask("hi");
    bad_schema.tools[0].parameters = json!("not a schema");
    assert!(matches!(
        m.stream(bad_schema).await.err(),
        Some(ai::chat::ChatError::BadRequest(_))
    ));
}
