//! The document tables: current layers, versions, the schema check of a new value and the
//! write of a new version with its change record, event and audit entry — one place used by
//! the HTTP resources, the gRPC API and the seed.
use config_client::{DocumentLayer, Layer, Source, Update, layers, schema::Schema};
use kit::{Problem, Timestamp, Uow, contracts::events::v1, sqlx::PgConnection};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{audit::Entry, problems, slot::Slot};

/// A document layer at its current version.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Current {
    pub namespace: String,
    pub key: String,
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub layer: LayerText,
    pub scope: String,
    pub organization_id: Option<Uuid>,
    pub version: i32,
    pub version_id: Uuid,
    pub value: Value,
    pub updated_at: Timestamp,
}

/// A layer read from its TEXT column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LayerText(pub Layer);

impl TryFrom<String> for LayerText {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        serde_json::from_value(Value::String(s.clone()))
            .map(LayerText)
            .map_err(|_| format!("unknown layer {s}"))
    }
}

impl Current {
    pub fn as_layer(&self) -> DocumentLayer {
        DocumentLayer {
            namespace: self.namespace.clone(),
            key: self.key.clone(),
            layer: self.layer.0,
            scope: self.scope.clone(),
            organization_id: self.organization_id.map(|o| o.to_string()),
            version: self.version,
            value: self.value.clone(),
        }
    }

    pub fn source(&self) -> Source {
        Source {
            layer: self.layer.0,
            scope: self.scope.clone(),
            version: self.version,
        }
    }
}

macro_rules! current_columns {
    () => {
        "d.namespace, d.key, d.layer, d.scope, d.organization_id, v.version, v.id AS version_id, \
         v.value, v.created_at AS updated_at \
         FROM documents d JOIN document_versions v ON v.document_id = d.id AND v.version = d.current_version"
    };
}
pub(crate) use current_columns;

/// One layer's current document.
pub async fn current(
    conn: &mut PgConnection,
    ns: &str,
    key: &str,
    slot: &Slot,
) -> Result<Option<Current>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        current_columns!(),
        " WHERE d.namespace = $1 AND d.key = $2 AND d.layer = $3 AND d.scope = $4 \
           AND d.organization_id IS NOT DISTINCT FROM $5"
    ))
    .bind(ns)
    .bind(key)
    .bind(slot.layer.as_str())
    .bind(&slot.scope)
    .bind(slot.organization_id)
    .fetch_optional(conn)
    .await?)
}

/// The layers of a document that apply to an organisation (or to none), tier and environment,
/// most general first.
pub async fn applicable(
    conn: &mut PgConnection,
    ns: &str,
    key: &str,
    org: Option<Uuid>,
    tier: Option<&str>,
    environment: Option<&str>,
) -> Result<Vec<Current>, Problem> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        current_columns!(),
        " WHERE d.namespace = $1 AND d.key = $2 AND ( d.layer = 'default' \
            OR (d.layer = 'tier' AND d.scope = $4) \
            OR (d.layer = 'tenant' AND d.organization_id = $3) \
            OR (d.layer = 'environment' AND d.organization_id = $3 AND d.scope = $5)) \
         ORDER BY array_position(ARRAY['default','tier','tenant','environment'], d.layer)"
    ))
    .bind(ns)
    .bind(key)
    .bind(org)
    .bind(tier)
    .bind(environment)
    .fetch_all(conn)
    .await?)
}

pub async fn schema_of(conn: &mut PgConnection, ns: &str) -> Result<Option<Value>, Problem> {
    Ok(
        sqlx::query_scalar("SELECT schema FROM schemas WHERE namespace = $1")
            .bind(ns)
            .fetch_optional(conn)
            .await?,
    )
}

/// Checks `value` as the new document of `slot`: merged over the layers beneath it (the
/// default, and for an environment the organisation's tenant layer), it must conform to the
/// namespace's schema. 422 naming every path and rule otherwise.
pub async fn check(
    conn: &mut PgConnection,
    ns: &str,
    key: &str,
    slot: &Slot,
    value: &Value,
) -> Result<(), Problem> {
    let schema = schema_of(conn, ns).await?.ok_or_else(|| {
        problems::NO_SCHEMA.with(format!("namespace: no schema is registered for {ns}"))
    })?;
    let schema = Schema::compile(&schema).map_err(Problem::internal)?;
    let below = match slot.layer {
        Layer::Default => Vec::new(),
        Layer::Tier | Layer::Tenant => applicable(conn, ns, key, None, None, None).await?,
        Layer::Environment => applicable(conn, ns, key, slot.organization_id, None, None).await?,
    };
    let mine = Source {
        layer: slot.layer,
        scope: slot.scope.clone(),
        version: 0,
    };
    let merged = layers::merge(
        below
            .iter()
            .map(|c| (c.source(), &c.value))
            .chain([(mine, value)]),
    );
    let violations = schema.check(&merged.value);
    if violations.is_empty() {
        return Ok(());
    }
    let detail = violations
        .iter()
        .map(|v| {
            format!(
                "{} ({}): {}",
                if v.path.is_empty() { "/" } else { &v.path },
                v.rule,
                v.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(problems::SCHEMA_VIOLATION
        .with(format!("the document breaks the {ns} schema: {detail}"))
        .with_errors(
            violations
                .into_iter()
                .map(|v| kit::FieldError {
                    field: if v.path.is_empty() {
                        "/".into()
                    } else {
                        v.path
                    },
                    message: format!("{}: {}", v.rule, v.message),
                })
                .collect(),
        ))
}

/// A new version to write.
pub struct NewVersion<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
    pub slot: &'a Slot,
    pub value: Value,
    pub format: &'static str,
    pub message: Option<String>,
    pub restored_from: Option<Uuid>,
    pub author: Option<Uuid>,
}

/// The layer's document and its current version, locked until commit (none when the layer has
/// no document yet).
pub async fn locked(
    conn: &mut PgConnection,
    ns: &str,
    key: &str,
    slot: &Slot,
) -> Result<Option<(Uuid, i32)>, Problem> {
    // Locked: two writers of one layer number their versions one after the other, and a writer
    // that compares the version first (a scheduled change) writes over the one it compared.
    Ok(sqlx::query_as(
        "SELECT id, current_version FROM documents WHERE namespace = $1 AND key = $2 AND layer = $3 \
           AND scope = $4 AND organization_id IS NOT DISTINCT FROM $5 FOR UPDATE",
    )
    .bind(ns)
    .bind(key)
    .bind(slot.layer.as_str())
    .bind(&slot.scope)
    .bind(slot.organization_id)
    .fetch_optional(conn)
    .await?)
}

/// The layer's document, locked, and the number its next version takes (created at version 0
/// when the layer has none yet).
async fn next_version(uow: &mut Uow, new: &NewVersion<'_>) -> Result<(Uuid, i32), Problem> {
    let slot = new.slot;
    let doc = locked(uow, new.namespace, new.key, slot).await?;
    Ok(match doc {
        Some((id, v)) => (id, v + 1),
        None => {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO documents (id, namespace, key, layer, scope, organization_id, current_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )
            .bind(id)
            .bind(new.namespace)
            .bind(new.key)
            .bind(slot.layer.as_str())
            .bind(&slot.scope)
            .bind(slot.organization_id)
            .execute(&mut **uow)
            .await?;
            (id, 1)
        }
    })
}

/// Writes `new` as the next version of its layer (creating the layer at version 1), records the
/// change for watchers and emits `config_changed`, all in `uow`. Checked by the caller.
pub async fn write(uow: &mut Uow, new: NewVersion<'_>) -> Result<Current, Problem> {
    let slot = new.slot;
    let (doc_id, version) = next_version(uow, &new).await?;
    let version_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO document_versions (id, document_id, organization_id, version, value, format, message, restored_from, author_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(version_id)
    .bind(doc_id)
    .bind(slot.organization_id)
    .bind(version)
    .bind(&new.value)
    .bind(new.format)
    .bind(new.message.as_deref())
    .bind(new.restored_from)
    .bind(new.author)
    .execute(&mut **uow)
    .await?;
    sqlx::query("UPDATE documents SET current_version = $2, updated_at = now() WHERE id = $1")
        .bind(doc_id)
        .bind(version)
        .execute(&mut **uow)
        .await?;
    let current = current(uow, new.namespace, new.key, slot)
        .await?
        .ok_or_else(|| Problem::internal("the version just written is not visible"))?;
    let update = Update::Document {
        document: current.as_layer(),
    };
    let revision = record_change(uow, slot.organization_id, Some(new.namespace), &update).await?;
    let org = slot.organization_id.unwrap_or_default();
    uow.emit(
        org,
        version_id,
        &v1::ConfigChanged {
            namespace: new.namespace.into(),
            key: new.key.into(),
            layer: slot.layer.as_str().into(),
            scope: slot.scope.clone(),
            organization_id: slot
                .organization_id
                .map(|o| o.to_string())
                .unwrap_or_default(),
            version,
            version_id: version_id.to_string(),
            changed_by: new.author.map(|a| a.to_string()).unwrap_or_default(),
            restored_from: new.restored_from.map(|r| r.to_string()).unwrap_or_default(),
            revision,
        },
    )
    .await?;
    uow.audit(Entry {
        action: if new.restored_from.is_some() {
            "config_rolled_back"
        } else {
            "config_written"
        },
        organization_id: slot.organization_id,
        subject: slot.describe(new.namespace, new.key),
        version: Some(version),
    })
    .await?;
    Ok(current)
}

/// Appends `update` to the change log and returns its revision.
pub async fn record_change(
    conn: &mut PgConnection,
    org: Option<Uuid>,
    namespace: Option<&str>,
    update: &Update,
) -> Result<i64, Problem> {
    // Serialises writers of the change log until commit, so revisions commit in the order they
    // are numbered and a watcher reading "after revision N" never skips a later-committing
    // lower one. Configuration writes are rare; the wait is short.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('config_changes'))")
        .execute(&mut *conn)
        .await?;
    let payload = serde_json::to_value(update).map_err(Problem::internal)?;
    // The number is drawn first: the log is readable by the service's stream only, so a
    // writer's INSERT cannot RETURN the row it adds.
    let revision: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('changes', 'revision'))")
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO changes (revision, organization_id, namespace, payload) VALUES ($1, $2, $3, $4)",
    )
    .bind(revision)
    .bind(org)
    .bind(namespace)
    .bind(payload)
    .execute(conn)
    .await?;
    Ok(revision)
}
