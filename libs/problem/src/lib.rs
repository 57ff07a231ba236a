//! `application/problem+json` (RFC 9457): the one error shape every endpoint answers with.
//!
//! A [`Problem`] names what is wrong (`title`, `detail`, optional per-field `errors`) and carries
//! the request's correlation id. Server faults are logged with their cause where they are built
//! and answered with a generic body: SQL, stack traces and upstream bodies never leave the process.
use std::{borrow::Cow, fmt};

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/problem+json";
/// Base of the `type` URIs; the path names the kind of problem.
const TYPE_BASE: &str = "https://workflow.dev/problems/";

tokio::task_local! {
    /// The correlation id of the request being handled; set by the service kit's middleware so
    /// that every problem (and log line) built inside the request carries it.
    pub static CORRELATION_ID: String;
}

/// The current request's correlation id, if inside one.
pub fn correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(|c| c.clone()).ok()
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The RFC 9457 body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before retrying (429).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// An error answer. Build it with the constructors; `?` converts crate errors into it.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    slug: Cow<'static, str>,
    title: Cow<'static, str>,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    www_authenticate: bool,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            slug: Cow::Borrowed(slug),
            title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            www_authenticate: false,
        }
    }

    /// 400: the request cannot be read (malformed JSON, bad query string).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 422: the request was read but a field is invalid. Names the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            format!("{field}: {message}"),
        )
        .with_errors(vec![FieldError { field, message }])
    }

    /// 422 with several invalid fields at once.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail).with_errors(errors)
    }

    /// 401: no or bad credentials. Adds `WWW-Authenticate: Bearer`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        p.www_authenticate = true;
        p
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404. Also the answer for another tenant's ids: existence is not revealed.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    /// 409: conflicts with the current state (duplicate, already decided).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 413.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", detail)
    }

    /// 429 with the number of seconds to wait (also sent as `Retry-After`).
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("rate limit exceeded; retry after {retry_after_secs} s"),
        );
        p.retry_after = Some(retry_after_secs.max(1));
        p
    }

    /// 503: a dependency is down; the request may be retried.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 500. The cause is logged here, with the correlation id; the body stays generic.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(
            correlation_id = correlation_id().as_deref().unwrap_or(""),
            error = %cause,
            "internal error"
        );
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; quote the correlation id when reporting it",
        )
    }

    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = title.into();
        self
    }

    /// Tells the client when to retry (`Retry-After`, whole seconds, at least 1): a 429 or a
    /// 503 of a service's own type.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The last segment of the `type` URI, e.g. `last-admin`.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            type_: format!("{TYPE_BASE}{}", self.slug),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            correlation_id: correlation_id(),
            errors: self.errors.clone(),
            retry_after: self.retry_after,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// One entry of a service's problem catalogue: a stable `type` URI (`…/problems/last-admin`),
/// its status and title. A service lists its own in one `problems` module; the kit documents the
/// catalogue in the service's OpenAPI document, so a client can rely on `type`, not on `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    pub slug: &'static str,
    pub status: u16,
    pub title: &'static str,
    /// When it is answered, for the catalogue.
    pub description: &'static str,
}

impl ProblemType {
    /// `status` must be a 4xx or 5xx code; an invalid one answers 500.
    pub const fn new(
        status: u16,
        slug: &'static str,
        title: &'static str,
        description: &'static str,
    ) -> Self {
        ProblemType {
            slug,
            status,
            title,
            description,
        }
    }

    /// The full `type` URI.
    pub fn uri(&self) -> String {
        format!("{TYPE_BASE}{}", self.slug)
    }

    /// An answer of this type with `detail`.
    pub fn with(&self, detail: impl Into<String>) -> Problem {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut p = Problem::new(status, self.slug, detail).with_title(self.title);
        // Every 401 carries the challenge, whichever type it is.
        p.www_authenticate = status == StatusCode::UNAUTHORIZED;
        p
    }
}

/// The problem types every service answers with (the kit's own), for the catalogue.
pub const COMMON: &[ProblemType] = &[
    ProblemType::new(
        400,
        "bad-request",
        "Bad Request",
        "The request cannot be read (malformed JSON or query).",
    ),
    ProblemType::new(
        401,
        "unauthorized",
        "Unauthorized",
        "No or invalid credentials.",
    ),
    ProblemType::new(
        403,
        "forbidden",
        "Forbidden",
        "Authenticated but not allowed.",
    ),
    ProblemType::new(
        404,
        "not-found",
        "Not Found",
        "No such resource, or not visible to the caller (another tenant's ids answer the same).",
    ),
    ProblemType::new(
        405,
        "method-not-allowed",
        "Method Not Allowed",
        "The resource does not answer this method; `Allow` names those it does.",
    ),
    ProblemType::new(
        408,
        "timeout",
        "Request Timeout",
        "The request took longer than the server's limit; it may be retried.",
    ),
    ProblemType::new(
        409,
        "conflict",
        "Conflict",
        "Conflicts with the current state.",
    ),
    ProblemType::new(
        413,
        "payload-too-large",
        "Payload Too Large",
        "The body is larger than the limit.",
    ),
    ProblemType::new(
        415,
        "unsupported-media-type",
        "Unsupported Media Type",
        "The body is not JSON.",
    ),
    ProblemType::new(
        422,
        "validation",
        "Unprocessable Entity",
        "A field is invalid; `errors` names each.",
    ),
    ProblemType::new(
        429,
        "rate-limited",
        "Too Many Requests",
        "A rate limit was reached; retry after `retry_after` seconds.",
    ),
    ProblemType::new(
        500,
        "internal",
        "Internal Server Error",
        "The server failed; quote the correlation id.",
    ),
    ProblemType::new(
        503,
        "unavailable",
        "Service Unavailable",
        "A dependency is down; retry shortly.",
    ),
];

/// A handler result whose error is a [`Problem`].
pub type Result<T, E = Problem> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn body_carries_correlation_id_and_fields() {
        let p = Problem::invalid("email", "must be a work email");
        let body = CORRELATION_ID
            .scope("abc".to_string(), async move { p.body() })
            .await;
        assert_eq!(body.status, 422);
        assert_eq!(body.correlation_id.as_deref(), Some("abc"));
        assert_eq!(body.errors[0].field, "email");
        assert!(body.type_.ends_with("/validation"));
    }

    #[test]
    fn internal_hides_cause() {
        let p = Problem::internal("relation \"users\" does not exist");
        assert!(!p.body().detail.contains("users"));
        assert_eq!(p.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn rate_limit_sets_retry_after() {
        let res = Problem::rate_limited(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        assert_eq!(res.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    }
}

#[cfg(feature = "tonic")]
mod grpc_status {
    use super::Problem;

    /// A problem becomes the gRPC status of the same meaning, so gRPC handlers use `?` on the
    /// same functions the HTTP handlers call. Server faults stay generic (logged where built).
    impl From<Problem> for tonic::Status {
        fn from(p: Problem) -> Self {
            let msg = p.detail().to_string();
            match p.status().as_u16() {
                400 | 413 | 415 | 422 => tonic::Status::invalid_argument(msg),
                401 => tonic::Status::unauthenticated(msg),
                403 => tonic::Status::permission_denied(msg),
                404 => tonic::Status::not_found(msg),
                409 => tonic::Status::already_exists(msg),
                412 => tonic::Status::failed_precondition(msg),
                429 => tonic::Status::resource_exhausted(msg),
                503 => tonic::Status::unavailable(msg),
                _ => tonic::Status::internal("internal error"),
            }
        }
    }
}

#[cfg(feature = "sqlx")]
mod sqlx_errors {
    use super::Problem;

    /// Database errors become answers without leaking SQL: a unique violation is a 409, a
    /// foreign-key or check violation a 422, an exhausted pool a 503, the rest a logged 500.
    /// Map a specific constraint to a more precise problem with `store::ConstraintExt`.
    impl From<sqlx::Error> for Problem {
        fn from(e: sqlx::Error) -> Self {
            match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    Problem::conflict("the request conflicts with an existing record")
                }
                sqlx::Error::Database(db)
                    if db.is_foreign_key_violation() || db.is_check_violation() =>
                {
                    Problem::new(
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        "validation",
                        "the request refers to something that does not exist or breaks a rule",
                    )
                }
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                    tracing::warn!(error = %e, "database pool unavailable");
                    Problem::unavailable("the database is busy; retry shortly")
                }
                _ => Problem::internal(e),
            }
        }
    }
}
