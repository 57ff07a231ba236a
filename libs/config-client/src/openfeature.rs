//! An OpenFeature provider over the client's in-memory copy, so a service evaluates flags
//! through the standard interface. The targeting key is the user id; the context's custom
//! fields `organization_id`, `tier`, `industry`, `size` and `region` are the organisation's.
//!
//! The interface is OpenFeature's provider shape (the Rust SDK's `FeatureProvider`: its
//! `resolve_*_value` methods, `ResolutionDetails`, reasons and error codes), declared here:
//! the `open-feature` crate (0.3.0) does not build without its default features, which pull
//! `mockall` into production builds.
use std::collections::HashMap;

/// A value of an evaluation context's custom field.
#[derive(Debug, Clone, PartialEq)]
pub enum EvaluationContextFieldValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
}

/// OpenFeature's evaluation context: the targeting key and custom fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationContext {
    pub targeting_key: Option<String>,
    pub custom_fields: HashMap<String, EvaluationContextFieldValue>,
}

impl EvaluationContext {
    pub fn with_targeting_key(mut self, key: impl Into<String>) -> Self {
        self.targeting_key = Some(key.into());
        self
    }

    pub fn with_custom_field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_fields.insert(
            key.into(),
            EvaluationContextFieldValue::String(value.into()),
        );
        self
    }
}

/// OpenFeature's resolution reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluationReason {
    Static,
    Default,
    TargetingMatch,
    Split,
    Cached,
    Disabled,
    Unknown,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluationErrorCode {
    ProviderNotReady,
    FlagNotFound,
    ParseError,
    TypeMismatch,
    TargetingKeyMissing,
    InvalidContext,
    General,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationError {
    pub code: EvaluationErrorCode,
    pub message: Option<String>,
}

pub type EvaluationResult<T> = Result<T, EvaluationError>;

#[derive(Debug, Clone, PartialEq)]
pub struct ResolutionDetails<T> {
    pub value: T,
    pub variant: Option<String>,
    pub reason: Option<EvaluationReason>,
}

/// OpenFeature's structured value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Array(Vec<Value>),
    Struct(StructValue),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StructValue {
    pub fields: HashMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub name: String,
}

impl ProviderMetadata {
    pub fn new(name: impl Into<String>) -> Self {
        ProviderMetadata { name: name.into() }
    }
}

/// OpenFeature's provider interface.
#[async_trait::async_trait]
pub trait FeatureProvider: Send + Sync + 'static {
    fn metadata(&self) -> &ProviderMetadata;
    async fn resolve_bool_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>>;
    async fn resolve_int_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>>;
    async fn resolve_float_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>>;
    async fn resolve_string_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>>;
    async fn resolve_struct_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>>;
}

use crate::{
    client::ConfigClient,
    flags::{Context, Evaluation, Reason},
};

pub struct Provider {
    client: ConfigClient,
    metadata: ProviderMetadata,
}

impl Provider {
    pub fn new(client: ConfigClient) -> Self {
        Provider {
            client,
            metadata: ProviderMetadata::new("workflow-config"),
        }
    }

    fn evaluate(&self, key: &str, ctx: &EvaluationContext) -> EvaluationResult<Evaluation> {
        let e = self.client.evaluate(key, &context(ctx));
        if e.reason == Reason::Error {
            return Err(EvaluationError {
                code: EvaluationErrorCode::FlagNotFound,
                message: Some(format!("no flag {key:?}")),
            });
        }
        Ok(e)
    }
}

/// The flag context of an OpenFeature evaluation context.
pub fn context(ctx: &EvaluationContext) -> Context {
    let text = |name: &str| match ctx.custom_fields.get(name) {
        Some(EvaluationContextFieldValue::String(s)) => Some(s.clone()),
        Some(EvaluationContextFieldValue::Int(i)) => Some(i.to_string()),
        _ => None,
    };
    Context {
        organization_id: text("organization_id"),
        user_id: ctx.targeting_key.clone(),
        tier: text("tier"),
        industry: text("industry"),
        size: text("size").and_then(|s| s.parse().ok()),
        region: text("region"),
    }
}

fn reason(r: Reason) -> EvaluationReason {
    match r {
        Reason::Disabled => EvaluationReason::Disabled,
        Reason::TargetingMatch => EvaluationReason::TargetingMatch,
        Reason::Split => EvaluationReason::Split,
        Reason::Static => EvaluationReason::Static,
        Reason::Default => EvaluationReason::Default,
        Reason::Error => EvaluationReason::Error,
    }
}

fn details<T>(value: T, e: &Evaluation) -> ResolutionDetails<T> {
    ResolutionDetails {
        value,
        variant: e.variant.clone(),
        reason: Some(reason(e.reason)),
    }
}

fn mismatch<T>(key: &str, want: &str) -> EvaluationResult<T> {
    Err(EvaluationError {
        code: EvaluationErrorCode::TypeMismatch,
        message: Some(format!("flag {key:?} has no {want} payload")),
    })
}

/// A JSON value as an OpenFeature value (numbers as integers when they are).
fn of_json(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().filter_map(of_json).collect()),
        serde_json::Value::Object(o) => Value::Struct(StructValue {
            fields: o
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), of_json(v)?)))
                .collect(),
        }),
        serde_json::Value::Null => return None,
    })
}

#[async_trait::async_trait]
impl FeatureProvider for Provider {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        let e = self.evaluate(key, ctx)?;
        Ok(details(e.enabled, &e))
    }

    async fn resolve_int_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        let e = self.evaluate(key, ctx)?;
        match e.payload.as_ref().and_then(|p| p.as_i64()) {
            Some(v) => Ok(details(v, &e)),
            None => mismatch(key, "integer"),
        }
    }

    async fn resolve_float_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        let e = self.evaluate(key, ctx)?;
        match e.payload.as_ref().and_then(|p| p.as_f64()) {
            Some(v) => Ok(details(v, &e)),
            None => mismatch(key, "number"),
        }
    }

    /// The variant's name (a multivariate flag), or its string payload.
    async fn resolve_string_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        let e = self.evaluate(key, ctx)?;
        let text = match e.payload.as_ref().and_then(|p| p.as_str()) {
            Some(s) => Some(s.to_string()),
            None => e.variant.clone(),
        };
        match text {
            Some(v) => Ok(details(v, &e)),
            None => mismatch(key, "string"),
        }
    }

    async fn resolve_struct_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        let e = self.evaluate(key, ctx)?;
        match e.payload.as_ref().and_then(of_json) {
            Some(Value::Struct(s)) => Ok(details(s, &e)),
            _ => mismatch(key, "object"),
        }
    }
}
