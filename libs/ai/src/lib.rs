//! Language models and embeddings: a chat-model trait with tools, streaming and usage, an
//! embedder trait, the OpenAI-compatible clients, and the local defaults that need no network.
pub mod chat;
pub mod embed;
