//! The reference service's tests, one module per feature; the harness is `testkit`'s.
mod archive;
mod notes;
mod support;
mod tenancy;
mod unit_of_work;
mod welcome;
