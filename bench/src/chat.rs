//! `chat`: the local chat model's answer time with 5 tools (the tool descriptions' vectors
//! cached after the first call, so an answer embeds its message only), complete and streamed,
//! and the similarity scores the tool threshold is set against.
use std::time::{Duration, Instant};

use ai::chat::{ChatModel, ChatRequest, LocalConfig, LocalModel, Message, ToolDef, collect};
use serde_json::json;

const ROUNDS: usize = 200;

fn tools() -> Vec<ToolDef> {
    let one = |name: &str, desc: &str, prop: &str, ty: &str| {
        ToolDef::new(
            name,
            desc,
            json!({"type": "object", "properties": {prop: {"type": ty}}, "required": [prop]}),
        )
    };
    vec![
        one(
            "get_order_status",
            "Look up the status and delivery date of a customer's order",
            "order_id",
            "string",
        ),
        one(
            "create_support_ticket",
            "Open a support ticket for a problem or bug a customer reports",
            "email",
            "string",
        ),
        one(
            "schedule_demo",
            "Book a product demo meeting with the sales team on a date",
            "date",
            "string",
        ),
        one(
            "quote_price",
            "Estimate the monthly price for a number of seats on a pricing plan",
            "seats",
            "integer",
        ),
        one(
            "cancel_subscription",
            "Cancel a customer's subscription and stop future billing",
            "account_id",
            "string",
        ),
    ]
}

const MATCHING: &[&str] = &[
    "Where is my package? It's order ORD-1234",
    "Has order ORD-77 been delivered yet?",
    "The app keeps crashing, please open a ticket. I'm ana@acme.com",
    "Can I see a demo of the product on 2025-03-14?",
    "How much would 25 seats cost per month?",
    "Please stop charging me and end my subscription, account ACC-9921",
];
const UNRELATED: &[&str] = &[
    "What's the weather like on Mars tonight?",
    "Write me a poem about autumn leaves",
    "Who won the football match yesterday?",
    "Tell me the CEO's phone number",
];

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub fn run(rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    rt.block_on(async {
        println!("\n## local chat model, 5 tools (all-MiniLM-L6-v2 embedder)");
        let load = Instant::now();
        let embedder = ai::embed::local_default()?;
        println!(
            "embedder load               {:>8.0} ms",
            load.elapsed().as_secs_f64() * 1000.0
        );
        let model = LocalModel::new(embedder, LocalConfig::default());
        let ask = |text: &str| ChatRequest::new(vec![Message::user(text)]).with_tools(tools());

        let cold = Instant::now();
        model.complete(ask(MATCHING[0])).await?;
        println!(
            "first answer (embeds tools) {:>8.1} ms",
            cold.elapsed().as_secs_f64() * 1000.0
        );

        let mut times = Vec::with_capacity(ROUNDS);
        for i in 0..ROUNDS {
            let text = MATCHING[i % MATCHING.len()];
            let t = Instant::now();
            model.complete(ask(text)).await?;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "answer, complete            p50 {:>6.2} ms   p99 {:>6.2} ms   ({ROUNDS} rounds)",
            pct(&times, 0.5),
            pct(&times, 0.99)
        );
        let mut times = Vec::with_capacity(ROUNDS);
        for i in 0..ROUNDS {
            let text = UNRELATED[i % UNRELATED.len()];
            let t = Instant::now();
            collect(model.stream(ask(text)).await?, "local").await?;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "answer, streamed (refusal)  p50 {:>6.2} ms   p99 {:>6.2} ms",
            pct(&times, 0.5),
            pct(&times, 0.99)
        );
        scores(&model).await
    })
}

async fn scores(model: &LocalModel) -> anyhow::Result<()> {
    println!(
        "tool scores (best, second) against the threshold {:.2}:",
        LocalConfig::default().tool_threshold
    );
    for (label, texts) in [("matching", MATCHING), ("unrelated", UNRELATED)] {
        for text in texts {
            let mut s = model.tool_scores(text, &tools()).await?;
            s.sort_by(|a, b| b.total_cmp(a));
            println!("  {label:<9} {:.3} {:.3}  {text}", s[0], s[1]);
        }
    }
    Ok(())
}
