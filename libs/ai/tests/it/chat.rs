//! Chat models: the OpenAI-compatible client against a local mock replaying providers' streamed
//! answers and errors, tenants' token budgets (in memory and in the real Redis), and the local
//! model with the real embedder.
mod arguments;
mod budget;
mod local;
mod provider;
mod support;
