//! Configuration documents: one layer's current value (read, write), its immutable versions,
//! the diff between any two versions of a document, rollback, and the effective view merged
//! over the layers with the source of every value.
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use config_client::layers::{self, Change, Source};
use kit::{
    Json, Origin, Problem, Query, Timestamp,
    auth::Principal,
    input::{Limit, OptText},
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState, etag, names, problems,
    rows::{self, Current, NewVersion},
    slot::{self, Slot, SlotQuery},
    yaml,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read, write))
        .routes(routes!(versions))
        .routes(routes!(effective))
        .routes(routes!(diff))
        .routes(routes!(rollback))
}

pub(crate) fn names_of(ns: &str, key: &str) -> Result<(String, String), Problem> {
    Ok((names::namespace(ns)?, names::key("key", key)?))
}

/// One layer's current document (by default a client's tenant layer, an agent's default).
#[utoipa::path(get, path = "/api/v1/configs/{namespace}/{key}", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path), SlotQuery), security(("bearer" = [])),
    responses((status = 200, body = Current), (status = 304), (status = 404, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn read(
    State(s): State<AppState>,
    p: Principal,
    Path((ns, key)): Path<(String, String)>,
    Query(q): Query<SlotQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let slot = q.resolve(&p)?;
    let mut uow = s.db.read_for(&p).await?;
    let doc = rows::current(&mut uow, &ns, &key, &slot)
        .await?
        .ok_or_else(|| Problem::not_found("configuration document"))?;
    uow.commit().await?;
    Ok(etag::respond(&headers, &doc))
}

/// A new version of one layer: YAML text or a JSON value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Write {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub layer: Option<config_client::Layer>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    /// The document as a JSON value…
    #[serde(default)]
    pub value: Option<Value>,
    /// …or as YAML text (at most 256 KiB; anchors and nesting bounded).
    #[serde(default)]
    pub yaml: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub message: OptText<500>,
}

/// A write body read and checked: the layer, the value and the format it came in.
pub(crate) struct Checked {
    pub slot: Slot,
    pub value: Value,
    pub format: &'static str,
}

impl Write {
    /// The layer `p` addresses, 403 unless `p` may write it, and the value parsed (YAML within
    /// its budget, or JSON) and checked against the namespace's schema merged over the layers
    /// beneath: what every write of a document (now, or scheduled) goes through.
    pub(crate) async fn checked(
        &self,
        conn: &mut kit::sqlx::PgConnection,
        p: &Principal,
        ns: &str,
        key: &str,
    ) -> Result<Checked, Problem> {
        let slot = SlotQuery {
            layer: self.layer,
            scope: self.scope.clone(),
            organization_id: self.organization_id,
        }
        .resolve(p)?;
        slot::may_write(p, &slot)?;
        let (value, format) = self.content()?;
        rows::check(conn, ns, key, &slot, &value).await?;
        Ok(Checked {
            slot,
            value,
            format,
        })
    }

    fn content(&self) -> Result<(Value, &'static str), Problem> {
        let unreadable = |m: String| problems::UNREADABLE_DOCUMENT.with(m);
        match (&self.value, &self.yaml) {
            (Some(v), None) => {
                yaml::json_ok(v).map_err(|m| unreadable(format!("value: {m}")))?;
                Ok((v.clone(), "json"))
            }
            (None, Some(text)) => Ok((
                yaml::parse_yaml(text).map_err(|m| unreadable(format!("yaml: {m}")))?,
                "yaml",
            )),
            _ => Err(Problem::invalid(
                "value",
                "give exactly one of value and yaml",
            )),
        }
    }
}

/// Write a new version of one layer, validated against the namespace's schema.
#[utoipa::path(put, path = "/api/v1/configs/{namespace}/{key}", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path)), request_body = Write,
    security(("bearer" = [])),
    responses((status = 200, body = Current), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
async fn write(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path((ns, key)): Path<(String, String)>,
    Json(w): Json<Write>,
) -> Result<Json<Current>, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    let c = w.checked(&mut uow, &p, &ns, &key).await?;
    let doc = rows::write(
        &mut uow,
        NewVersion {
            namespace: &ns,
            key: &key,
            slot: &c.slot,
            value: c.value,
            format: c.format,
            message: w.message.into_option(),
            restored_from: None,
            author: Some(p.act.unwrap_or(p.user_id)),
        },
    )
    .await?;
    uow.commit().await?;
    Ok(Json(doc))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Version {
    pub version_id: Uuid,
    pub version: i32,
    pub value: Value,
    pub format: String,
    pub message: Option<String>,
    pub restored_from: Option<Uuid>,
    pub author_id: Option<Uuid>,
    pub created_at: Timestamp,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionsQuery {
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub layer: Option<config_client::Layer>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Limit<20, 100>,
}

/// One layer's versions, newest first.
#[utoipa::path(get, path = "/api/v1/configs/{namespace}/{key}/versions", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path), VersionsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = [Version]), (status = 404, body = kit::ProblemBody)))]
async fn versions(
    State(s): State<AppState>,
    p: Principal,
    Path((ns, key)): Path<(String, String)>,
    Query(q): Query<VersionsQuery>,
) -> Result<Json<Vec<Version>>, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let slot = SlotQuery {
        layer: q.layer,
        scope: q.scope,
        organization_id: q.organization_id,
    }
    .resolve(&p)?;
    let mut uow = s.db.read_for(&p).await?;
    let list: Vec<Version> = sqlx::query_as(
        "SELECT v.id AS version_id, v.version, v.value, v.format, v.message, v.restored_from, \
                v.author_id, v.created_at \
         FROM documents d JOIN document_versions v ON v.document_id = d.id \
         WHERE d.namespace = $1 AND d.key = $2 AND d.layer = $3 AND d.scope = $4 \
           AND d.organization_id IS NOT DISTINCT FROM $5 ORDER BY v.version DESC LIMIT $6",
    )
    .bind(&ns)
    .bind(&key)
    .bind(slot.layer.as_str())
    .bind(&slot.scope)
    .bind(slot.organization_id)
    .bind(q.limit.as_i64())
    .fetch_all(&mut *uow)
    .await?;
    uow.commit().await?;
    if list.is_empty() {
        return Err(Problem::not_found("configuration document"));
    }
    Ok(Json(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EffectiveQuery {
    /// The organisation's tier (its tier layer applies).
    #[serde(default)]
    pub tier: Option<String>,
    /// The environment (its environment layer applies).
    #[serde(default)]
    pub environment: Option<String>,
    /// Platform agents: whose view (none: the platform's layers only).
    #[serde(default)]
    pub organization_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Effective {
    pub namespace: String,
    pub key: String,
    pub value: Value,
    /// JSON pointer of every value → the layer, scope and version it came from.
    #[schema(value_type = Object)]
    pub sources: BTreeMap<String, Source>,
    /// The layers merged, most general first.
    #[schema(value_type = Vec<Object>)]
    pub layers: Vec<Source>,
}

/// The document merged over the layers that apply, with the source of every value.
#[utoipa::path(get, path = "/api/v1/configs/{namespace}/{key}/effective", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path), EffectiveQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Effective), (status = 304), (status = 404, body = kit::ProblemBody)))]
async fn effective(
    State(s): State<AppState>,
    p: Principal,
    Path((ns, key)): Path<(String, String)>,
    Query(q): Query<EffectiveQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let tier = q.tier.as_deref().map(names::scope).transpose()?;
    let env = q.environment.as_deref().map(names::scope).transpose()?;
    let org = if p.is_agent() {
        q.organization_id.or(p.organization_id)
    } else {
        match q.organization_id {
            Some(o) if Some(o) != p.organization_id => {
                return Err(Problem::not_found("configuration document"));
            }
            _ => Some(p.require_org()?),
        }
    };
    let mut uow = s.db.read_for(&p).await?;
    let found = rows::applicable(&mut uow, &ns, &key, org, tier.as_deref(), env.as_deref()).await?;
    uow.commit().await?;
    if found.is_empty() {
        return Err(Problem::not_found("configuration document"));
    }
    let merged = layers::merge(found.iter().map(|c| (c.source(), &c.value)));
    let body = Effective {
        namespace: ns,
        key,
        value: merged.value,
        sources: merged.sources,
        layers: found.iter().map(Current::source).collect(),
    };
    Ok(etag::respond(&headers, &body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    pub from: Uuid,
    pub to: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Diff {
    pub from: Uuid,
    pub to: Uuid,
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Change>,
}

/// A version of this document (any layer the caller can see), or 422 when it is another's.
async fn version_of(
    conn: &mut kit::sqlx::PgConnection,
    ns: &str,
    key: &str,
    id: Uuid,
    field: &str,
) -> Result<(Value, Slot), Problem> {
    let row: Option<(String, String, Value, String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT d.namespace, d.key, v.value, d.layer, d.scope, d.organization_id \
         FROM document_versions v JOIN documents d ON d.id = v.document_id WHERE v.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let (vns, vkey, value, layer, scope, org) =
        row.ok_or_else(|| Problem::not_found("configuration version"))?;
    if vns != ns || vkey != key {
        return Err(problems::FOREIGN_VERSION.with(format!(
            "{field}: version {id} belongs to {vns}/{vkey}, not {ns}/{key}"
        )));
    }
    let layer = rows::LayerText::try_from(layer)
        .map_err(Problem::internal)?
        .0;
    Ok((
        value,
        Slot {
            layer,
            scope,
            organization_id: org,
        },
    ))
}

/// The changes from one version of the document to another (either layer).
#[utoipa::path(get, path = "/api/v1/configs/{namespace}/{key}/diff", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path), DiffQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Diff), (status = 404, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn diff(
    State(s): State<AppState>,
    p: Principal,
    Path((ns, key)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<Diff>, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let mut uow = s.db.read_for(&p).await?;
    let (a, _) = version_of(&mut uow, &ns, &key, q.from, "from").await?;
    let (b, _) = version_of(&mut uow, &ns, &key, q.to, "to").await?;
    uow.commit().await?;
    Ok(Json(Diff {
        from: q.from,
        to: q.to,
        changes: layers::diff(&a, &b),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to restore: a version of this document's layer.
    pub version_id: Uuid,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub message: OptText<500>,
}

/// Restore an old version: a new version equal to it, checked against today's schema.
#[utoipa::path(post, path = "/api/v1/configs/{namespace}/{key}/rollback", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path)), request_body = Rollback,
    security(("bearer" = [])),
    responses((status = 201, body = Current), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 422, body = kit::ProblemBody)))]
async fn rollback(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path((ns, key)): Path<(String, String)>,
    Json(r): Json<Rollback>,
) -> Result<(StatusCode, Json<Current>), Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    let (value, slot) = version_of(&mut uow, &ns, &key, r.version_id, "version_id").await?;
    slot::may_write(&p, &slot)?;
    rows::check(&mut uow, &ns, &key, &slot, &value).await?;
    let doc = rows::write(
        &mut uow,
        NewVersion {
            namespace: &ns,
            key: &key,
            slot: &slot,
            value,
            format: "json",
            message: r.message.into_option(),
            restored_from: Some(r.version_id),
            author: Some(p.act.unwrap_or(p.user_id)),
        },
    )
    .await?;
    uow.commit().await?;
    Ok((StatusCode::CREATED, Json(doc)))
}
