//! The platform's audit log, for platform admins: every entry, inside organisations and
//! outside them (failed sign-ins, resets, signups, agents' actions), with the filters of an
//! organisation's log plus the organisation and "outside any organisation".
use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use kit::{
    Json, Problem, Query,
    auth::Principal,
    input::{Limit, Text},
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{AuditPage, Bound, Filter, Format, csv, platform_scope};
use crate::{AppState, access, rules::Page};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlatformAuditQuery {
    #[serde(default)]
    #[param(value_type = Option<String>, min_length = 1, max_length = 64)]
    pub action: Option<Text<1, 64>>,
    /// Entries about this user or acted by it.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// One organisation's entries.
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    /// `true`: only entries outside any organisation.
    #[serde(default)]
    pub platform_only: bool,
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

impl PlatformAuditQuery {
    fn filter(&self) -> Filter {
        Filter {
            organization: self.organization_id,
            platform_only: self.platform_only,
            action: self.action.as_deref().map(str::to_string),
            user: self.user_id,
            ip: self.ip_address.as_deref().map(str::to_string),
            from: self.from.map(|b| b.0),
            to: self.to.map(|b| b.0),
        }
    }
}

/// The platform's audit log (platform admins): every organisation's entries and those outside
/// any, filtered; a page as JSON, or every matching entry as CSV.
#[utoipa::path(get, path = "/api/v1/auth/audit-logs", tag = "audit",
    security(("bearer" = [])), params(PlatformAuditQuery),
    responses((status = 200, description = "A page of records as JSON, or with `format=csv` every matching record, streamed",
                content((AuditPage = "application/json"), (String = "text/csv"))),
              (status = 401, body = kit::ProblemBody), (status = 403, body = kit::ProblemBody)))]
pub(super) async fn platform_audit_logs(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<PlatformAuditQuery>,
) -> Result<Response, Problem> {
    access::platform_admin(&p)?;
    let filter = q.filter();
    if q.format == Format::Csv {
        return Ok(csv::export(
            s.db.clone(),
            platform_scope(),
            filter,
            "platform-audit-logs.csv",
        ));
    }
    let mut uow = s.db.read(platform_scope()).await?;
    let page = filter.page(&mut uow, q.page, q.limit.get()).await?;
    uow.commit().await?;
    Ok(Json(page).into_response())
}
