//! A chat model whose tenant calls are charged to a [`TokenBudget`]: refused before the call
//! when the reservation does not fit, corrected to the reported usage after it.
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use super::{
    ChatModel, ChatStream,
    budget::{Reservation, TokenBudget},
    error::ChatError,
    tokens,
    types::{ChatEvent, ChatRequest, ChatResponse},
    validate,
};

/// What a call reserves for its answer when it sets no `max_tokens`.
pub const DEFAULT_RESERVED_COMPLETION: u32 = 1024;

pub struct Budgeted {
    inner: Arc<dyn ChatModel>,
    budget: Arc<dyn TokenBudget>,
}

impl Budgeted {
    pub fn new(inner: Arc<dyn ChatModel>, budget: Arc<dyn TokenBudget>) -> Self {
        Budgeted { inner, budget }
    }

    async fn reserve(&self, r: &ChatRequest) -> Result<Option<Reservation>, ChatError> {
        let Some(tenant) = r.organization_id else {
            return Ok(None);
        };
        let want = u64::from(tokens::prompt(r))
            + u64::from(r.max_tokens.unwrap_or(DEFAULT_RESERVED_COMPLETION));
        self.budget.reserve(tenant, want).await.map(Some)
    }

    async fn settle(&self, reservation: Option<Reservation>, actual: u64) {
        if let Some(r) = reservation
            && let Err(e) = self.budget.settle(r, actual).await
        {
            // The reservation stands: the tenant is charged its estimate, never less.
            tracing::warn!(error = %e, "token budget not corrected");
        }
    }
}

#[async_trait]
impl ChatModel for Budgeted {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError> {
        validate::request(&request)?;
        let reservation = self.reserve(&request).await?;
        let result = self.inner.complete(request).await;
        let used = result.as_ref().map_or(0, |r| r.usage.total_tokens());
        self.settle(reservation, used).await;
        result
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError> {
        validate::request(&request)?;
        let reservation = self.reserve(&request).await?;
        let events = match self.inner.stream(request).await {
            Ok(s) => s,
            Err(e) => {
                self.settle(reservation, 0).await;
                return Err(e);
            }
        };
        let budget = self.budget.clone();
        // Settled when the usage event passes; a stream that fails first keeps its estimate.
        Ok(Box::pin(events.then(move |ev| {
            let budget = budget.clone();
            async move {
                if let (Ok(ChatEvent::Usage(u)), Some(r)) = (&ev, reservation)
                    && let Err(e) = budget.settle(r, u.total_tokens()).await
                {
                    tracing::warn!(error = %e, "token budget not corrected");
                }
                ev
            }
        })))
    }
}
