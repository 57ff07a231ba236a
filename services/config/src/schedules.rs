//! Scheduled changes: a write of one layer that takes effect at a future time. The value is
//! checked against the namespace's schema when it is scheduled (422 as for a write) and again
//! when it is applied (`apply`), and written only over the version of the layer it was
//! scheduled over: a layer written in the meantime is a conflict, the schedule fails and the
//! other write stands. Until then a pending schedule can be cancelled. The same
//! permissions as writes: a tenant's admins schedule their own layers, platform admins the
//! platform's; another tenant's schedules are not found.
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use kit::{
    Json, Origin, Problem, Query, Timestamp, Uow,
    auth::Principal,
    input::Limit,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState,
    audit::Entry,
    documents::{Write, names_of},
    problems,
    rows::{self, LayerText},
    slot::{self, Slot, SlotQuery},
};

pub(crate) mod apply;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, cancel))
}

/// How far ahead a change may be scheduled.
const HORIZON_SECS: i64 = 365 * 86_400;

/// A scheduled change of one layer.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Schedule {
    pub schedule_id: Uuid,
    pub namespace: String,
    pub key: String,
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub layer: LayerText,
    pub scope: String,
    pub organization_id: Option<Uuid>,
    pub value: Value,
    pub format: String,
    pub message: Option<String>,
    pub apply_at: Timestamp,
    /// The version of the layer the change is written over (0: none yet).
    pub base_version: i32,
    /// `pending`, `applied`, `cancelled` or `failed`.
    pub status: String,
    /// Why it failed: the schema check's answer when it was due.
    pub reason: Option<String>,
    /// The version an applied schedule wrote.
    pub version_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub cancelled_by: Option<Uuid>,
    /// When it was applied, cancelled or failed.
    pub settled_at: Option<Timestamp>,
}

impl Schedule {
    fn slot(&self) -> Slot {
        Slot {
            layer: self.layer.0,
            scope: self.scope.clone(),
            organization_id: self.organization_id,
        }
    }
}

/// The columns of a [`Schedule`].
macro_rules! columns {
    () => {
        "id AS schedule_id, namespace, key, layer, scope, organization_id, value, format, message, \
         apply_at, base_version, status, reason, version_id, created_by, created_at, cancelled_by, settled_at"
    };
}
pub(crate) use columns;

/// A write to make at `apply_at`: the body of a write (`PUT …/{key}`) as `change`, the time,
/// and the version of the layer it is written over.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// When the change takes effect (RFC 3339): in the future, at most a year ahead.
    pub apply_at: Timestamp,
    /// The version of the layer the change is written over (0: the layer has none yet); by
    /// default its version now. A later one chains on a change still to come (another
    /// schedule's); an earlier one is a conflict (409). When the change is due and the layer is
    /// at another version, nothing is written and the schedule fails naming both.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub expected_version: Option<i32>,
    /// The write, as the body of `PUT /api/v1/configs/{namespace}/{key}`.
    pub change: Write,
}

/// A problem with the write's fields, naming them where they are in a [`NewSchedule`]
/// (`change.value`); a schema violation names the document's paths and is left as it is.
fn within_change(p: Problem) -> Problem {
    if p.slug() != "validation" {
        return p;
    }
    Problem::invalid_fields(
        p.body()
            .errors
            .into_iter()
            .map(|e| kit::FieldError {
                field: format!("change.{}", e.field),
                message: e.message,
            })
            .collect(),
    )
}

/// `apply_at`, unless it is past or more than a year ahead.
fn due_at(apply_at: Timestamp) -> Result<Timestamp, Problem> {
    let ahead = (apply_at.0 - Timestamp::now().0).whole_seconds();
    if ahead <= 0 {
        return Err(Problem::invalid("apply_at", "must be in the future"));
    }
    if ahead > HORIZON_SECS {
        return Err(Problem::invalid("apply_at", "must be at most a year ahead"));
    }
    Ok(apply_at)
}

/// The version the change is written over: `expected` (at least `current`) or `current`.
fn base_version(expected: Option<i32>, current: i32) -> Result<i32, Problem> {
    match expected {
        None => Ok(current),
        Some(v) if v >= current => Ok(v),
        Some(v) => Err(problems::VERSION_CONFLICT.with(format!(
            "expected_version: the layer is at version {current}, past version {v}"
        ))),
    }
}

/// Schedule a new version of one layer, checked now against the namespace's schema and again
/// when it is due.
#[utoipa::path(post, path = "/api/v1/configs/{namespace}/{key}/schedules", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path)), request_body = NewSchedule,
    security(("bearer" = [])),
    responses((status = 201, body = Schedule), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn create(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path((ns, key)): Path<(String, String)>,
    Json(body): Json<NewSchedule>,
) -> Result<(StatusCode, Json<Schedule>), Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let apply_at = due_at(body.apply_at)?;
    if body.expected_version.is_some_and(|v| v < 0) {
        return Err(Problem::invalid("expected_version", "must be at least 0"));
    }
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    let c = body
        .change
        .checked(&mut uow, &p, &ns, &key)
        .await
        .map_err(within_change)?;
    let current = rows::current(&mut uow, &ns, &key, &c.slot)
        .await?
        .map_or(0, |d| d.version);
    let base = base_version(body.expected_version, current)?;
    let saved: Schedule = sqlx::query_as(concat!(
        "INSERT INTO schedules (id, namespace, key, layer, scope, organization_id, value, format, \
           message, apply_at, base_version, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(&ns)
    .bind(&key)
    .bind(c.slot.layer.as_str())
    .bind(&c.slot.scope)
    .bind(c.slot.organization_id)
    .bind(&c.value)
    .bind(c.format)
    .bind(body.change.message.as_deref())
    .bind(apply_at)
    .bind(base)
    .bind(p.act.unwrap_or(p.user_id))
    .fetch_one(&mut *uow)
    .await?;
    audit(&mut uow, "config_scheduled", &saved).await?;
    uow.commit().await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// The audit entry of a schedule's step (scheduled, cancelled, failed).
pub(crate) async fn audit(
    uow: &mut Uow,
    action: &'static str,
    s: &Schedule,
) -> Result<(), Problem> {
    uow.audit(Entry {
        action,
        organization_id: s.organization_id,
        subject: format!(
            "{} schedule {}",
            s.slot().describe(&s.namespace, &s.key),
            s.schedule_id
        ),
        version: None,
    })
    .await
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Applied,
    Cancelled,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Applied => "applied",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ScheduleQuery {
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub layer: Option<config_client::Layer>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    /// Only schedules in this state.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub status: Option<Status>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Limit<20, 100>,
}

/// One layer's scheduled changes, latest `apply_at` first.
#[utoipa::path(get, path = "/api/v1/configs/{namespace}/{key}/schedules", tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path), ScheduleQuery),
    security(("bearer" = [])),
    responses((status = 200, body = [Schedule]), (status = 404, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn list(
    State(s): State<AppState>,
    p: Principal,
    Path((ns, key)): Path<(String, String)>,
    Query(q): Query<ScheduleQuery>,
) -> Result<Json<Vec<Schedule>>, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let slot = SlotQuery {
        layer: q.layer,
        scope: q.scope,
        organization_id: q.organization_id,
    }
    .resolve(&p)?;
    let mut uow = s.db.read_for(&p).await?;
    let list: Vec<Schedule> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM schedules \
         WHERE namespace = $1 AND key = $2 AND layer = $3 AND scope = $4 \
           AND organization_id IS NOT DISTINCT FROM $5 AND ($6::text IS NULL OR status = $6) \
         ORDER BY apply_at DESC, id DESC LIMIT $7"
    ))
    .bind(&ns)
    .bind(&key)
    .bind(slot.layer.as_str())
    .bind(&slot.scope)
    .bind(slot.organization_id)
    .bind(q.status.map(Status::as_str))
    .bind(q.limit.as_i64())
    .fetch_all(&mut *uow)
    .await?;
    uow.commit().await?;
    Ok(Json(list))
}

fn schedule_id(raw: &str) -> Result<Uuid, Problem> {
    raw.parse()
        .map_err(|_| Problem::invalid("schedule_id", "must be a UUID"))
}

/// The schedule `id` of this document, if the caller can see it (locked for a change).
async fn load(
    uow: &mut Uow,
    ns: &str,
    key: &str,
    id: Uuid,
    lock: bool,
) -> Result<Schedule, Problem> {
    let sql = if lock {
        concat!(
            "SELECT ",
            columns!(),
            " FROM schedules WHERE id = $1 AND namespace = $2 AND key = $3 FOR UPDATE"
        )
    } else {
        concat!(
            "SELECT ",
            columns!(),
            " FROM schedules WHERE id = $1 AND namespace = $2 AND key = $3"
        )
    };
    sqlx::query_as(sql)
        .bind(id)
        .bind(ns)
        .bind(key)
        .fetch_optional(&mut **uow)
        .await?
        .ok_or_else(|| Problem::not_found("scheduled change"))
}

/// One scheduled change.
#[utoipa::path(get, path = "/api/v1/configs/{namespace}/{key}/schedules/{schedule_id}",
    tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path), ("schedule_id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Schedule), (status = 404, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn read(
    State(s): State<AppState>,
    p: Principal,
    Path((ns, key, id)): Path<(String, String, String)>,
) -> Result<Json<Schedule>, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let id = schedule_id(&id)?;
    let mut uow = s.db.read_for(&p).await?;
    let found = load(&mut uow, &ns, &key, id, false).await?;
    uow.commit().await?;
    Ok(Json(found))
}

/// Cancel a pending scheduled change (409 once it was applied, cancelled or has failed).
#[utoipa::path(delete, path = "/api/v1/configs/{namespace}/{key}/schedules/{schedule_id}",
    tag = "configs",
    params(("namespace" = String, Path), ("key" = String, Path), ("schedule_id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Schedule), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody), (status = 409, body = kit::ProblemBody)))]
async fn cancel(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path((ns, key, id)): Path<(String, String, String)>,
) -> Result<Json<Schedule>, Problem> {
    let (ns, key) = names_of(&ns, &key)?;
    let id = schedule_id(&id)?;
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    // Locked: the job applying it skips a locked row, and this waits for one being applied.
    let found = load(&mut uow, &ns, &key, id, true).await?;
    slot::may_write(&p, &found.slot())?;
    if found.status != "pending" {
        return Err(problems::SCHEDULE_SETTLED.with(format!(
            "schedule_id: the scheduled change {id} is {}; only a pending one can be cancelled",
            found.status
        )));
    }
    let cancelled: Schedule = sqlx::query_as(concat!(
        "UPDATE schedules SET status = 'cancelled', cancelled_by = $2, settled_at = now() \
         WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(p.act.unwrap_or(p.user_id))
    .fetch_one(&mut *uow)
    .await?;
    audit(&mut uow, "config_schedule_cancelled", &cancelled).await?;
    uow.commit().await?;
    Ok(Json(cancelled))
}
