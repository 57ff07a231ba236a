//! Tenants' token budgets: refused before the provider is called, corrected to the reported
//! usage, shared by replicas through the real Redis, exact under concurrency.
use std::{sync::Arc, time::Duration};

use ai::chat::{Budgeted, ChatError, ChatModel, MemoryBudget, RedisBudget, TokenBudget, tokens};
use uuid::Uuid;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

use super::support::{ask, client, fixture, stream_of};

const DAY: Duration = Duration::from_secs(86_400);

fn redis_budget(prefix: &str, limit: u64) -> RedisBudget {
    let url =
        std::env::var("FLEET_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pool = cache::connect(&url, 8).expect("redis pool");
    RedisBudget::new(pool, prefix, limit, DAY)
}

async fn provider() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(fixture("openai_text.sse")),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_call_over_the_tenants_budget_is_refused_before_the_provider_is_called() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let model = Budgeted::new(
        Arc::new(client(&server)),
        Arc::new(MemoryBudget::new(100, DAY)),
    );
    let mut r = ask("Where is ORD-1234?").for_tenant(Uuid::new_v4());
    r.max_tokens = Some(200);
    let err = model.complete(r.clone()).await.expect_err("over budget");
    match err {
        ChatError::BudgetExceeded {
            limit,
            used,
            requested,
            retry_after,
        } => {
            assert_eq!((limit, used), (100, 0));
            assert_eq!(requested, u64::from(tokens::prompt(&r)) + 200);
            assert!(retry_after <= DAY && retry_after > Duration::ZERO);
        }
        other => panic!("{other:?}"),
    }
    let (_, err) = stream_of(&model, r).await;
    assert!(matches!(err, Some(ChatError::BudgetExceeded { .. })));
}

#[tokio::test]
async fn a_call_is_charged_what_the_provider_reported_and_other_tenants_are_untouched() {
    let server = provider().await;
    let budget = Arc::new(MemoryBudget::new(1_000, DAY));
    let model = Budgeted::new(Arc::new(client(&server)), budget.clone());
    let tenant = Uuid::new_v4();
    let mut r = ask("Where is ORD-1234?").for_tenant(tenant);
    r.max_tokens = Some(100);
    let (_, err) = stream_of(&model, r).await;
    assert_eq!(err, None);
    // openai_text.sse reports 57 + 8 tokens: exactly 935 are left.
    budget.reserve(tenant, 935).await.expect("935 left");
    let err = budget.reserve(tenant, 1).await.expect_err("none left");
    assert!(
        matches!(err, ChatError::BudgetExceeded { used: 1_000, .. }),
        "{err:?}"
    );
    budget
        .reserve(Uuid::new_v4(), 1_000)
        .await
        .expect("another tenant's budget is whole");
}

#[tokio::test]
async fn replicas_share_a_budget_in_redis_and_never_overshoot_it_under_concurrency() {
    let prefix = format!("test-{}", Uuid::new_v4());
    let a = Arc::new(redis_budget(&prefix, 100));
    let b = Arc::new(redis_budget(&prefix, 100));
    let tenant = Uuid::new_v4();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let budget = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { budget.reserve(tenant, 10).await })
        })
        .collect();
    let mut admitted = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await.expect("task") {
            admitted.push(r);
        }
    }
    assert_eq!(admitted.len(), 10, "exactly the limit is admitted");
    // A settle for less gives the difference back to every replica.
    a.settle(admitted[0], 4).await.expect("settle");
    b.reserve(tenant, 6).await.expect("6 given back");
    assert!(b.reserve(tenant, 1).await.is_err());
    a.reserve(Uuid::new_v4(), 100)
        .await
        .expect("another tenant is untouched");
}

#[tokio::test]
async fn an_unreachable_budget_store_refuses_the_call() {
    let pool = cache::connect("redis://127.0.0.1:1", 1).expect("pool");
    let budget = RedisBudget::new(pool, "unreachable", 100, DAY);
    let err = budget
        .reserve(Uuid::new_v4(), 1)
        .await
        .expect_err("fails closed");
    assert!(
        matches!(err, ChatError::Provider { status: None, .. }),
        "{err:?}"
    );
}
