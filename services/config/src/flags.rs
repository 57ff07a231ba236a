//! Feature flags: platform admins define them (their rules may name organisations, so only
//! platform agents read definitions); anyone signed in evaluates them — a client for its own
//! organisation and user only. The kill switch turns a flag off for everyone at once.
use std::collections::BTreeMap;

use axum::extract::{Path, State};
use config_client::{Context, Evaluation, FlagDef, FlagEntry, Update};
use kit::{
    Json, Origin, Problem, Timestamp, Uow,
    auth::Principal,
    contracts::events::v1,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{AppState, audit::Entry, names, problems, rows, slot};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, put, switch))
        .routes(routes!(evaluate))
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Flag {
    pub key: String,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub version: i32,
    pub updated_at: Timestamp,
}

fn require_staff(p: &Principal) -> Result<(), Problem> {
    if p.is_agent() {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "flag definitions are for platform agents; evaluate flags instead",
        ))
    }
}

/// Every flag (platform agents).
#[utoipa::path(get, path = "/api/v1/flags", tag = "flags", security(("bearer" = [])),
    responses((status = 200, body = [Flag]), (status = 403, body = kit::ProblemBody)))]
async fn list(State(s): State<AppState>, p: Principal) -> Result<Json<Vec<Flag>>, Problem> {
    require_staff(&p)?;
    let mut uow = s.db.read_for(&p).await?;
    let all: Vec<Flag> =
        sqlx::query_as("SELECT key, definition, version, updated_at FROM flags ORDER BY key")
            .fetch_all(&mut *uow)
            .await?;
    uow.commit().await?;
    Ok(Json(all))
}

async fn load(uow: &mut Uow, key: &str, lock: bool) -> Result<Option<Flag>, Problem> {
    let sql = if lock {
        "SELECT key, definition, version, updated_at FROM flags WHERE key = $1 FOR UPDATE"
    } else {
        "SELECT key, definition, version, updated_at FROM flags WHERE key = $1"
    };
    Ok(sqlx::query_as(sql)
        .bind(key)
        .fetch_optional(&mut **uow)
        .await?)
}

/// One flag (platform agents).
#[utoipa::path(get, path = "/api/v1/flags/{flag_key}", tag = "flags",
    params(("flag_key" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Flag), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody)))]
async fn read(
    State(s): State<AppState>,
    p: Principal,
    Path(key): Path<String>,
) -> Result<Json<Flag>, Problem> {
    let key = names::key("flag_key", &key)?;
    require_staff(&p)?;
    let mut uow = s.db.read_for(&p).await?;
    let flag = load(&mut uow, &key, false)
        .await?
        .ok_or_else(|| Problem::not_found("flag"))?;
    uow.commit().await?;
    Ok(Json(flag))
}

/// Saves `def` as the flag's next version, with its change record, event and audit entry.
async fn save(
    uow: &mut Uow,
    key: &str,
    def: &FlagDef,
    by: Uuid,
    action: &'static str,
) -> Result<Flag, Problem> {
    let definition = serde_json::to_value(def).map_err(Problem::internal)?;
    let flag: Flag = sqlx::query_as(
        "INSERT INTO flags (key, definition, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET definition = EXCLUDED.definition, version = flags.version + 1, \
           updated_by = EXCLUDED.updated_by, updated_at = now() \
         RETURNING key, definition, version, updated_at",
    )
    .bind(key)
    .bind(&definition)
    .bind(by)
    .fetch_one(&mut **uow)
    .await?;
    let update = Update::Flag {
        flag: FlagEntry {
            key: key.to_string(),
            version: flag.version,
            definition: def.clone(),
        },
    };
    let revision = rows::record_change(uow, None, None, &update).await?;
    uow.emit(
        Uuid::nil(),
        key,
        &v1::FlagChanged {
            flag_key: key.to_string(),
            version: flag.version,
            enabled: def.enabled,
            changed_by: by.to_string(),
            revision,
        },
    )
    .await?;
    uow.audit(Entry {
        action,
        organization_id: None,
        subject: format!("flag:{key}"),
        version: Some(flag.version),
    })
    .await?;
    Ok(flag)
}

/// Create or replace a flag (platform admins).
#[utoipa::path(put, path = "/api/v1/flags/{flag_key}", tag = "flags",
    params(("flag_key" = String, Path)), request_body(content = Object), security(("bearer" = [])),
    responses((status = 200, body = Flag), (status = 403, body = kit::ProblemBody),
              (status = 422, body = kit::ProblemBody)))]
async fn put(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path(key): Path<String>,
    Json(def): Json<FlagDef>,
) -> Result<Json<Flag>, Problem> {
    let key = names::key("flag_key", &key)?;
    slot::require_platform_admin(&p, "flags")?;
    if let Some((path, message)) = def.problem() {
        return Err(problems::INVALID_FLAG
            .with(format!("{path}: {message}"))
            .with_errors(vec![kit::FieldError {
                field: path,
                message,
            }]));
    }
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    let flag = save(&mut uow, &key, &def, p.user_id, "flag_written").await?;
    uow.commit().await?;
    Ok(Json(flag))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// `false`: off for everyone (the kill switch); `true`: the rules apply again.
    pub enabled: bool,
}

/// Turn a flag off for everyone, or back on (platform admins).
#[utoipa::path(patch, path = "/api/v1/flags/{flag_key}", tag = "flags",
    params(("flag_key" = String, Path)), request_body = Switch, security(("bearer" = [])),
    responses((status = 200, body = Flag), (status = 403, body = kit::ProblemBody),
              (status = 404, body = kit::ProblemBody)))]
async fn switch(
    State(s): State<AppState>,
    p: Principal,
    origin: Origin,
    Path(key): Path<String>,
    Json(sw): Json<Switch>,
) -> Result<Json<Flag>, Problem> {
    let key = names::key("flag_key", &key)?;
    slot::require_platform_admin(&p, "flags")?;
    let mut uow = s.db.begin_for(&p).await?.from(&origin);
    // Locked: a concurrent redefinition and this switch apply one after the other.
    let current = load(&mut uow, &key, true)
        .await?
        .ok_or_else(|| Problem::not_found("flag"))?;
    let mut def: FlagDef = serde_json::from_value(current.definition).map_err(Problem::internal)?;
    def.enabled = sw.enabled;
    let action = if sw.enabled {
        "flag_enabled"
    } else {
        "flag_killed"
    };
    let flag = save(&mut uow, &key, &def, p.user_id, action).await?;
    uow.commit().await?;
    Ok(Json(flag))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// Clients: `organization_id` and `user_id` are always their own.
    #[serde(default, deserialize_with = "context_object")]
    #[schema(value_type = Object)]
    pub context: Context,
    /// The flags to evaluate; none: all.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// A context is a JSON object. Serde would also build the struct from an array of its fields in
/// order (`[null, null]`), which no client means and the OpenAPI document does not allow.
fn context_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Context, D::Error> {
    let map = serde_json::Map::<String, Value>::deserialize(d)?;
    serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Evaluations {
    #[schema(value_type = Object)]
    pub flags: BTreeMap<String, Evaluation>,
}

/// Evaluate flags for a context, with the reason of each answer.
#[utoipa::path(post, path = "/api/v1/flags/evaluate", tag = "flags", request_body = EvaluateRequest,
    security(("bearer" = [])), responses((status = 200, body = Evaluations), (status = 422, body = kit::ProblemBody)))]
async fn evaluate(
    State(s): State<AppState>,
    p: Principal,
    Json(mut req): Json<EvaluateRequest>,
) -> Result<Json<Evaluations>, Problem> {
    if !p.is_agent() {
        req.context.organization_id = Some(p.require_org()?.to_string());
        req.context.user_id = Some(p.user_id.to_string());
    }
    if req.keys.len() > 100 {
        return Err(Problem::invalid("keys", "at most 100 flags at once"));
    }
    for (i, key) in req.keys.iter().enumerate() {
        names::key(&format!("keys[{i}]"), key)?;
    }
    // The definitions are platform data clients may not read: evaluated in the service's own
    // scope, and only the answers leave it.
    let mut uow = s.db.read(kit::store::Scope::system()).await?;
    let defs: Vec<(String, Value)> = sqlx::query_as(
        "SELECT key, definition FROM flags WHERE cardinality($1::text[]) = 0 OR key = ANY($1)",
    )
    .bind(&req.keys)
    .fetch_all(&mut *uow)
    .await?;
    uow.commit().await?;
    let mut flags = BTreeMap::new();
    for (key, def) in defs {
        let def: FlagDef = serde_json::from_value(def).map_err(Problem::internal)?;
        flags.insert(key.clone(), def.evaluate(&key, &req.context));
    }
    for k in &req.keys {
        flags
            .entry(k.clone())
            .or_insert_with(|| Evaluation::off(config_client::Reason::Error));
    }
    Ok(Json(Evaluations { flags }))
}
