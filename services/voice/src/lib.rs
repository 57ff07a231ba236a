//! voice (service 9): Voice agents: calls, media streams, STT/LLM/TTS pipeline, transcripts.
//!
//! Not built yet: it serves the runtime's endpoints only (health, readiness, metrics, OpenAPI,
//! gRPC health and reflection) and owns its database with the platform tables.

use kit::contracts::events::topic;

kit::service! {
    name: "voice", number: "9",
    summary: "Voice agents: calls, media streams, STT/LLM/TTS pipeline, transcripts",
    status: Planned, http: 8109, grpc: 9109, database: "voice",
    publishes: [topic::VOICE],
    consumes: [],
    prefixes: ["/api/v1/voice"],
    build: kit::planned,
}
