//! The config client's tests, one module per feature.
mod copy;
mod kafka;
mod openfeature;
