//! human-agent over HTTP and gRPC with org-auth running beside it (gRPC for agent logins, Kafka
//! for `assisted_account_created`), against the real datastores, one module per feature.
mod agents;
mod assignment;
mod examples;
mod grpc;
mod handoffs;
mod permissions;
mod presence;
mod specialists;
mod supervision;
mod support;
mod tenancy;
