//! Reading the audit log: an organisation's for its admins, and the whole platform's (failed
//! sign-ins, resets, signups, agents' actions, every organisation) for platform admins. Both
//! filter by action, user, source address and time, answer a page as JSON, or the whole
//! filtered range as a streamed CSV (`csv`). Old entries are deleted by `retention`.
use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use kit::{
    Json, Problem, Query, Timestamp,
    auth::Principal,
    input::{Limit, Text},
    sqlx::PgConnection,
    store::Scope,
    utoipa_axum::{router::OpenApiRouter, routes},
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState, access,
    rules::{Page, vocabulary},
};

mod csv;
mod platform;
pub(crate) mod retention;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_logs))
        .routes(routes!(platform::platform_audit_logs))
}

/// How the log is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

vocabulary!(Format, "must be json or csv", { Json => "json", Csv => "csv" });

/// A bound of the time filter: RFC 3339.
#[derive(Debug, Clone, Copy)]
pub struct Bound(Timestamp);

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Timestamp::parse(&raw)
            .map(Bound)
            .ok_or_else(|| serde::de::Error::custom("must be an RFC 3339 time"))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    #[param(value_type = Option<String>, min_length = 1, max_length = 64)]
    pub action: Option<Text<1, 64>>,
    /// Entries about this user or acted by it.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Entries from this client address.
    #[serde(default)]
    #[param(value_type = Option<String>, min_length = 1, max_length = 64)]
    pub ip_address: Option<Text<1, 64>>,
    /// RFC 3339, inclusive.
    #[serde(default)]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Bound>,
    /// RFC 3339, exclusive.
    #[serde(default)]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Bound>,
    /// Of the JSON answer; a CSV holds every matching entry.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    pub page: Page,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Limit<50, 1000>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    #[param(value_type = Option<Format>, inline)]
    pub format: Format,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub action: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub timestamp: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    pub page: u32,
    pub limit: u32,
    pub total: i64,
}

/// Which entries a reading covers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// One organisation's entries only.
    pub organization: Option<Uuid>,
    /// Only the entries outside any organisation (sign-ins, resets, signups, agents' work).
    pub platform_only: bool,
    pub action: Option<String>,
    pub user: Option<Uuid>,
    pub ip: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// The filter's condition on `audit_logs`, parameters `$1`–`$7` (a literal, so every query
/// stays literal SQL).
macro_rules! audit_filter {
    () => {
        "($1::uuid IS NULL OR organization_id = $1) AND (NOT $2 OR organization_id IS NULL) \
         AND ($3::text IS NULL OR action = $3) AND ($4::uuid IS NULL OR user_id = $4 OR actor_id = $4) \
         AND ($5::text IS NULL OR ip_address = $5) \
         AND ($6::timestamptz IS NULL OR \"timestamp\" >= $6) AND ($7::timestamptz IS NULL OR \"timestamp\" < $7)"
    };
}
use audit_filter;

/// Binds a [`Filter`] as `$1`–`$7` of [`audit_filter`].
macro_rules! bind_filter {
    ($q:expr, $f:expr) => {
        $q.bind($f.organization)
            .bind($f.platform_only)
            .bind($f.action.as_deref())
            .bind($f.user)
            .bind($f.ip.as_deref())
            .bind($f.from)
            .bind($f.to)
    };
}
use bind_filter;

/// The columns of an [`AuditRecord`].
macro_rules! record_columns {
    () => {
        "id, organization_id, action, user_id, actor_id, resource_type, resource_id, metadata, \
         ip_address, user_agent, \"timestamp\""
    };
}
use record_columns;

impl Filter {
    fn of(q: &AuditQuery) -> Self {
        Filter {
            action: q.action.as_deref().map(str::to_string),
            user: q.user_id,
            ip: q.ip_address.as_deref().map(str::to_string),
            from: q.from.map(|b| b.0),
            to: q.to.map(|b| b.0),
            ..Filter::default()
        }
    }

    /// One page of the matching entries, newest first, with their count.
    async fn page(
        &self,
        conn: &mut PgConnection,
        page: Page,
        limit: u32,
    ) -> Result<AuditPage, Problem> {
        let total: i64 = bind_filter!(
            sqlx::query_scalar(concat!(
                "SELECT count(*) FROM audit_logs WHERE ",
                audit_filter!()
            )),
            self
        )
        .fetch_one(&mut *conn)
        .await?;
        let records: Vec<AuditRecord> = bind_filter!(
            sqlx::query_as(concat!(
                "SELECT ",
                record_columns!(),
                " FROM audit_logs WHERE ",
                audit_filter!(),
                " ORDER BY \"timestamp\" DESC, id DESC LIMIT $8 OFFSET $9"
            )),
            self
        )
        .bind(i64::from(limit))
        .bind(page.offset(limit))
        .fetch_all(conn)
        .await?;
        Ok(AuditPage {
            records,
            page: page.get(),
            limit,
            total,
        })
    }
}

/// The organisation's audit log (admins): filter by action, user, address and time; a page as
/// JSON, or every matching entry as CSV.
#[utoipa::path(get, path = "/api/v1/organizations/{org_id}/audit-logs", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), AuditQuery),
    responses((status = 200, description = "A page of records as JSON, or with `format=csv` every matching record, streamed",
                content((AuditPage = "application/json"), (String = "text/csv"))),
              (status = 403, body = kit::ProblemBody), (status = 404, body = kit::ProblemBody)))]
async fn audit_logs(
    State(s): State<AppState>,
    p: Principal,
    Path(org): Path<Uuid>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, Problem> {
    let mut uow = access::admin_reader(&s, &p, org).await?;
    let filter = Filter {
        organization: Some(org),
        ..Filter::of(&q)
    };
    if q.format == Format::Csv {
        // Authorised: the export reads in the same scope, batch by batch, in units of its own.
        let scope = uow.scope();
        uow.commit().await?;
        return Ok(csv::export(s.db.clone(), scope, filter, "audit-logs.csv"));
    }
    let page = filter.page(&mut uow, q.page, q.limit.get()).await?;
    uow.commit().await?;
    Ok(Json(page).into_response())
}

/// A platform admin reads across every organisation and outside them (agent scope).
fn platform_scope() -> Scope {
    Scope::agent(None)
}
