//! Outbound webhooks: enqueue with the caller's change, sign, deliver with retries, log.
mod queue;
mod signature;
mod worker;

pub use queue::{Delivery, DeliveryStatus, MAX_BODY_BYTES, enqueue, get, log};
pub use signature::{
    EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER, Signer, TIMESTAMP_HEADER, verify as verify_signature,
};
pub use worker::{Backoff, Deliverer};
