//! org-auth over HTTP and gRPC against the real datastores, one module per feature.
mod assisted;
mod audit_log;
mod bad_input;
mod examples;
mod grpc;
mod invitations;
mod members;
mod mfa;
mod oauth;
mod organizations;
mod password_reset;
mod rate_limits;
mod sessions;
mod signup;
mod support;
mod tenancy;
mod tokens;
