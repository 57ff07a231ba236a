//! The harness's own checks, against the real datastores: the typed client, mailboxes, the
//! outbox assertions, and that `assert_forced_rls` and the cross-tenant probe fail when they must.
mod browser;
mod client;
mod examples;
mod fixture;
mod mailbox;
mod outbox;
mod probe;
mod rls;
