//! Webhooks: provider formats against their published or independently computed vectors,
//! replay protection in memory and in Redis, and outbound deliveries through real PostgreSQL
//! to a local receiver.
mod inbound;
mod outbound;
mod replay;
mod secrets;
