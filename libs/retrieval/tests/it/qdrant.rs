//! The Qdrant backend: the same conformance cases, when `QDRANT_URL` names a server (gRPC,
//! e.g. `http://127.0.0.1:6334`). Built without it, the cases are ignored with the reason
//! "skipped: QDRANT_URL not set", so the runner reports them as skipped; run anyway
//! (`--run-ignored`) without it, each prints that on stderr and returns.
use crate::{backend, conformance};

macro_rules! against_qdrant {
    ($name:ident, $case:expr) => {
        #[tokio::test]
        #[cfg_attr(not(qdrant_url), ignore = "skipped: QDRANT_URL not set")]
        async fn $name() -> anyhow::Result<()> {
            let Some(b) = backend::qdrant(stringify!($name)).await? else {
                return Ok(());
            };
            $case(&b).await
        }
    };
}

against_qdrant!(
    qdrant_never_returns_another_tenants_chunks,
    conformance::another_tenants_chunks_are_never_returned
);
#[tokio::test]
#[cfg_attr(not(qdrant_url), ignore = "skipped: QDRANT_URL not set")]
async fn qdrant_hybrid_retrieval_beats_vector_ranking_alone() -> anyhow::Result<()> {
    let Some(b) = backend::qdrant("qdrant_hybrid_retrieval_beats_vector_ranking_alone").await?
    else {
        return Ok(());
    };
    conformance::hybrid_beats_either_ranking_alone(&b, false).await
}
against_qdrant!(
    qdrant_hits_carry_their_document_offsets_and_url,
    conformance::every_hit_carries_its_source
);
against_qdrant!(
    qdrant_reindexing_replaces_chunks_and_delete_removes_them,
    conformance::reindexing_replaces_chunks_and_delete_removes_them
);
against_qdrant!(
    qdrant_filters_restrict_by_document_and_metadata,
    conformance::filters_restrict_by_document_and_metadata
);
against_qdrant!(
    qdrant_refuses_bad_queries_as_bad_input,
    conformance::bad_queries_are_refused_as_bad_input
);
