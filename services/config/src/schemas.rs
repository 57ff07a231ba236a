//! Namespace schemas: every document of a namespace is validated against its JSON Schema on
//! write. Platform admins register and change them; everyone signed in reads them.
use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use config_client::{Update, schema::Schema};
use kit::{
    Json, Origin, Problem, Timestamp,
    auth::Principal,
    contracts::events::v1,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{AppState, audit::Entry, etag, names, problems, rows, slot};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, put))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct NamespaceSchema {
    pub namespace: String,
    pub schema: Value,
    pub revision: i32,
    pub updated_at: Timestamp,
}

/// Every registered namespace with its schema.
#[utoipa::path(get, path = "/api/v1/schemas", tag = "schemas", security(("bearer" = [])),
    responses((status = 200, body = [NamespaceSchema])))]
async fn list(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let mut uow = s.db.read_for(&p).await?;
    let all: Vec<NamespaceSchema> = sqlx::query_as(
        "SELECT namespace, schema, revision, updated_at FROM schemas ORDER BY namespace",
    )
    .fetch_all(&mut *uow)
    .await?;
    uow.commit().await?;
    Ok(etag::respond(&headers, &all))
}

/// One namespace's schema.
#[utoipa::path(get, path = "/api/v1/schemas/{namespace}", tag = "schemas",
    params(("namespace" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NamespaceSchema), (status = 304), (status = 404, body = kit::ProblemBody)))]
async fn read(
    State(s): State<AppState>,
    p: Principal,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let ns = names::namespace(&ns)?;
    let mut uow = s.db.read_for(&p).await?;
    let one: NamespaceSchema = sqlx::query_as(
        "SELECT namespace, schema, revision, updated_at FROM schemas WHERE namespace = $1",
    )
    .bind(&ns)
    .fetch_optional(&mut *uow)
    .await?
    .ok_or_else(|| Problem::not_found("schema"))?;
    uow.commit().await?;
    Ok(etag::respond(&headers, &one))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSchema {
    /// A JSON Schema (draft 2020-12 unless `$schema` says otherwise); references resolve
    /// within it only.
    pub schema: Value,
}

/// Register or change a namespace's schema (platform admins). The namespace's default
/// documents must still conform.
#[utoipa::path(put, path = "/api/v1/schemas/{namespace}", tag = "schemas",
    params(("namespace" = String, Path)), request_body = PutSchema, security(("bearer" = [])),
    responses((status = 200, body = NamespaceSchema), (status = 403, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn put(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path(ns): Path<String>,
    Json(body): Json<PutSchema>,
) -> Result<Json<NamespaceSchema>, Problem> {
    let ns = names::namespace(&ns)?;
    slot::require_platform_admin(&p, "schemas")?;
    let compiled = Schema::compile(&body.schema)
        .map_err(|m| problems::INVALID_SCHEMA.with(format!("schema: {m}")))?;
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    let defaults: Vec<(String, Value)> = sqlx::query_as(concat!(
        "SELECT d.key, v.value FROM documents d JOIN document_versions v ",
        "ON v.document_id = d.id AND v.version = d.current_version ",
        "WHERE d.namespace = $1 AND d.layer = 'default'"
    ))
    .bind(&ns)
    .fetch_all(&mut *uow)
    .await?;
    if let Some((key, v)) = defaults
        .iter()
        .find_map(|(k, v)| compiled.check(v).into_iter().next().map(|v| (k, v)))
    {
        return Err(problems::SCHEMA_VIOLATION.with(format!(
            "schema: the default document {ns}/{key} would break it at {} ({}): {}",
            v.path, v.rule, v.message
        )));
    }
    let saved: NamespaceSchema = sqlx::query_as(
        "INSERT INTO schemas (namespace, schema, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace) DO UPDATE SET schema = EXCLUDED.schema, \
           revision = schemas.revision + 1, updated_by = EXCLUDED.updated_by, updated_at = now() \
         RETURNING namespace, schema, revision, updated_at",
    )
    .bind(&ns)
    .bind(&body.schema)
    .bind(p.user_id)
    .fetch_one(&mut *uow)
    .await?;
    let update = Update::Schema {
        namespace: ns.clone(),
        schema: body.schema,
        revision: saved.revision,
    };
    let revision = rows::record_change(&mut uow, None, Some(&ns), &update).await?;
    // Clients fed by config_events alone learn of it here (and fetch it from the change log).
    uow.emit(
        Uuid::nil(),
        &ns,
        &v1::SchemaChanged {
            namespace: ns.clone(),
            schema_revision: saved.revision,
            changed_by: p.user_id.to_string(),
            revision,
        },
    )
    .await?;
    uow.audit(Entry {
        action: "schema_written",
        organization_id: None,
        subject: format!("schema:{ns}"),
        version: Some(saved.revision),
    })
    .await?;
    uow.commit().await?;
    Ok(Json(saved))
}
