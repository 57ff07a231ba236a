//! The blob store against both backends: the filesystem and a real S3 API (moto's server).
mod conformance;
mod links;
mod support;
