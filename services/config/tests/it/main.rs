//! The config service's tests, one module per feature; the harness is `testkit`'s.
mod documents;
mod flags;
mod schedule;
mod seed;
mod support;
mod tenancy;
mod watch;
