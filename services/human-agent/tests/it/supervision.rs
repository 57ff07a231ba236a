//! The AI supervision feed: alerts and conversation counts from monitoring and conversation
//! events, for AI supervisors only.
use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervision_feed_shows_alerts_and_conversation_counts() -> anyhow::Result<()> {
    let p = pair().await?;
    let kafka = &p.shared.config.kafka;
    let producer = kit::events::Producer::new(kafka)?;
    let org = Uuid::new_v4();
    let now = kit::now_rfc3339();
    let env = |event_type: &str, data: Value| {
        json!({"event_id": Uuid::now_v7().to_string(), "event_type": event_type, "source": "test", "occurred_at": now,
               "organization_id": org.to_string(), "subject_id": "", "trace_parent": "", "data": data})
    };
    let alerts = [
        ("critical", "voice_agent", "High error rate"),
        ("warning", "agent_orchestration", "Low confidence answers"),
        ("warning", "agent_orchestration", "Low confidence answers"),
    ];
    let mut first_alert = String::new();
    for (sev, service, issue) in alerts {
        let id = Uuid::new_v4().to_string();
        if first_alert.is_empty() {
            first_alert = id.clone();
        }
        let e = env(
            "ai_alert_raised",
            json!({"alert_id": id, "severity": sev, "ai_agent_type": "chatbot", "service": service,
            "client_id": Uuid::new_v4().to_string(), "organization_id": org.to_string(), "organization_name": "Acme",
            "issue": issue, "recommended_action": "Review the conversation", "detected_at": now}),
        );
        producer
            .send(
                &kafka.topic("monitoring_events"),
                &org.to_string(),
                e.to_string().as_bytes(),
                &[],
            )
            .await?;
    }
    for i in 0..4 {
        let cid = Uuid::new_v4().to_string();
        let e = env(
            "conversation_started",
            json!({"conversation_id": cid, "organization_id": org.to_string(), "ai_agent_type": "chatbot", "service": "agent_orchestration", "timestamp": now}),
        );
        producer
            .send(
                &kafka.topic("conversation_events"),
                &org.to_string(),
                e.to_string().as_bytes(),
                &[],
            )
            .await?;
        if i == 0 {
            let e = env(
                "conversation_escalated",
                json!({"conversation_id": cid, "organization_id": org.to_string(), "reason": "asked for a human", "timestamp": now}),
            );
            producer
                .send(
                    &kafka.topic("conversation_events"),
                    &org.to_string(),
                    e.to_string().as_bytes(),
                    &[],
                )
                .await?;
        }
    }
    let e = env(
        "ai_alert_resolved",
        json!({"alert_id": first_alert, "resolved_by": "someone", "timestamp": now}),
    );
    producer
        .send(
            &kafka.topic("monitoring_events"),
            &org.to_string(),
            e.to_string().as_bytes(),
            &[],
        )
        .await?;

    let supervisor = p
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["ai_supervisor"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let feed = loop {
        let (st, f) = p
            .get("/api/v1/agents/supervision/ai-activity?time_range=last_24h")
            .bearer(&supervisor)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::OK, "{f}");
        let d = &f["supervision_dashboard"];
        if d["total_ai_conversations"] == 4
            && d["quality_issues"] == 3
            && d["escalated_to_human"] == 1
            && d["requiring_attention"] == 2
        {
            break f;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed never caught up: {f}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        feed["top_issues"][0],
        json!({"issue": "Low confidence answers", "occurrences": 2})
    );
    let (_, critical) = p
        .get("/api/v1/agents/supervision/ai-activity?alert_level=critical")
        .bearer(&supervisor)
        .send()
        .await?
        .parts();
    assert_eq!(critical["alerts"].as_array().map(Vec::len), Some(1));
    assert_eq!(critical["alerts"][0]["resolved"], true);
    let (_, voice) = p
        .get("/api/v1/agents/supervision/ai-activity?service=voice_agent")
        .bearer(&supervisor)
        .send()
        .await?
        .parts();
    assert_eq!(voice["supervision_dashboard"]["quality_issues"], 1);
    for q in ["time_range=forever", "alert_level=panic", "service=a;b"] {
        let (st, _) = p
            .get(&format!("/api/v1/agents/supervision/ai-activity?{q}"))
            .bearer(&supervisor)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
    }
    let sales = p
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["sales_agent"]);
    assert_eq!(
        p.get("/api/v1/agents/supervision/ai-activity")
            .bearer(&sales)
            .send()
            .await?
            .parts()
            .0,
        StatusCode::FORBIDDEN
    );
    Ok(())
}
