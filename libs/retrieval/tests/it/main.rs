//! Retrieval against real backends: PostgreSQL (a fresh database per test, the real local
//! embedder) always; Qdrant when `QDRANT_URL` is set — the same conformance cases, reported on
//! stderr as skipped when it is not.
mod backend;
mod conformance;
mod postgres;
mod qdrant;
