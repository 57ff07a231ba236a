//! An organisation's audit log for its admins: filtered by action, user and time, paged, as
//! JSON or CSV.
use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use kit::{
    Json, Problem, Query, Timestamp,
    auth::Principal,
    input::{Limit, Text},
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

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_logs))
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
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// RFC 3339.
    #[serde(default)]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Bound>,
    #[serde(default)]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Bound>,
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

/// The filter of both queries (a literal, so they stay literal SQL).
macro_rules! audit_filter {
    () => {
        "organization_id = $1 AND ($2::text IS NULL OR action = $2) \
         AND ($3::uuid IS NULL OR user_id = $3 OR actor_id = $3) \
         AND ($4::timestamptz IS NULL OR \"timestamp\" >= $4) AND ($5::timestamptz IS NULL OR \"timestamp\" < $5)"
    };
}

/// The organisation's audit log (admins): filter by action, user and time; JSON or CSV.
#[utoipa::path(get, path = "/api/v1/organizations/{org_id}/audit-logs", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = Uuid, Path), AuditQuery),
    responses((status = 200, description = "The records: JSON, or CSV with `format=csv`",
                content((AuditPage = "application/json"), (String = "text/csv"))),
              (status = 403, body = kit::ProblemBody)))]
async fn audit_logs(
    State(s): State<AppState>,
    p: Principal,
    Path(org): Path<Uuid>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, Problem> {
    let mut uow = access::admin_reader(&s, &p, org).await?;
    let action = q.action.as_deref();
    let (from, to) = (q.from.map(|b| b.0), q.to.map(|b| b.0));
    let total: i64 = sqlx::query_scalar(concat!(
        "SELECT count(*) FROM audit_logs WHERE ",
        audit_filter!()
    ))
    .bind(org)
    .bind(action)
    .bind(q.user_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *uow)
    .await?;
    let records: Vec<AuditRecord> = sqlx::query_as(concat!(
        "SELECT id, action, user_id, actor_id, resource_type, resource_id, metadata, ip_address, \
         user_agent, \"timestamp\" FROM audit_logs WHERE ",
        audit_filter!(),
        " ORDER BY \"timestamp\" DESC, id DESC LIMIT $6 OFFSET $7"
    ))
    .bind(org)
    .bind(action)
    .bind(q.user_id)
    .bind(from)
    .bind(to)
    .bind(q.limit.as_i64())
    .bind(q.page.offset(q.limit.get()))
    .fetch_all(&mut *uow)
    .await?;
    uow.commit().await?;
    Ok(match q.format {
        Format::Csv => csv(&records),
        Format::Json => Json(AuditPage {
            records,
            page: q.page.get(),
            limit: q.limit.get(),
            total,
        })
        .into_response(),
    })
}

/// The records as a CSV attachment: every field quoted, spreadsheet formulas neutralised.
fn csv(records: &[AuditRecord]) -> Response {
    let mut out = String::from(
        "id,timestamp,action,user_id,actor_id,resource_type,resource_id,ip_address,user_agent,metadata\n",
    );
    let opt = |v: &Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    for r in records {
        let fields = [
            r.id.to_string(),
            r.timestamp.to_string(),
            r.action.clone(),
            opt(&r.user_id),
            opt(&r.actor_id),
            r.resource_type.clone().unwrap_or_default(),
            opt(&r.resource_id),
            r.ip_address.clone().unwrap_or_default(),
            r.user_agent.clone().unwrap_or_default(),
            r.metadata.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"audit-logs.csv\"",
        ),
    ];
    (headers, out).into_response()
}

fn csv_field(v: &str) -> String {
    // Quote always; neutralise spreadsheet formulas.
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    format!("\"{}\"", v.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(super::csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(super::csv_field("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(super::csv_field("plain"), "\"plain\"");
    }
}
