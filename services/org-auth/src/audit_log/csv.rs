//! The CSV export: every entry the filter matches, newest first, streamed in batches read by
//! keyset (`("timestamp", id)` below the last one sent), so a year of entries is neither held
//! in memory nor cut to one page. Every field is quoted; a cell that a spreadsheet would read
//! as a formula (`=`, `+`, `-`, `@`) is prefixed with `'`.
use axum::{
    body::{Body, Bytes},
    http::header,
    response::{IntoResponse, Response},
};
use kit::{Db, Problem, Timestamp, store::Scope};
use uuid::Uuid;

use super::{AuditRecord, Filter, audit_filter, bind_filter, record_columns};

/// Entries read per batch.
const BATCH: i64 = 500;

/// The columns (`organization_id` last: it came after the others).
const HEADER: &str = "id,timestamp,action,user_id,actor_id,resource_type,resource_id,ip_address,user_agent,metadata,organization_id\n";

/// The answer: a `text/csv` attachment whose body is read as it is sent.
pub(super) fn export(db: Db, scope: Scope, filter: Filter, filename: &'static str) -> Response {
    let walk = Walk {
        db,
        scope,
        filter,
        after: None,
        started: false,
        done: false,
    };
    let body = futures::stream::unfold(walk, |mut w| async move {
        let chunk = w.next().await.transpose()?;
        Some((chunk, w))
    });
    let disposition = format!("attachment; filename=\"{filename}\"");
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    (headers, Body::from_stream(body)).into_response()
}

/// Where an export stands.
struct Walk {
    db: Db,
    scope: Scope,
    filter: Filter,
    /// The last entry sent.
    after: Option<(Timestamp, Uuid)>,
    started: bool,
    done: bool,
}

impl Walk {
    /// The next piece of the file: the header line, then one batch of rows at a time; `None`
    /// at the end. A failure ends the body early (the client sees a broken download, never a
    /// file that looks complete) and is logged.
    async fn next(&mut self) -> Result<Option<Bytes>, std::io::Error> {
        if !self.started {
            self.started = true;
            return Ok(Some(Bytes::from_static(HEADER.as_bytes())));
        }
        if self.done {
            return Ok(None);
        }
        let rows = self.batch().await.map_err(|p| {
            self.done = true;
            tracing::warn!(problem = %p, "an audit export stopped early");
            std::io::Error::other("the audit export could not be read to its end")
        })?;
        self.done = (rows.len() as i64) < BATCH;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after = Some((last.timestamp, last.id));
        let mut out = String::with_capacity(rows.len() * 256);
        for r in &rows {
            line(&mut out, r);
        }
        Ok(Some(Bytes::from(out)))
    }

    /// One batch after the last entry sent, in a read-only unit of its own: no connection is
    /// held between batches, however slowly the client reads.
    async fn batch(&self) -> Result<Vec<AuditRecord>, Problem> {
        let mut uow = self.db.read(self.scope).await?;
        let (at, id) = self.after.unzip();
        let rows: Vec<AuditRecord> = bind_filter!(
            sqlx::query_as(concat!(
                "SELECT ",
                record_columns!(),
                " FROM audit_logs WHERE ",
                audit_filter!(),
                " AND ($8::timestamptz IS NULL OR (\"timestamp\", id) < ($8, $9)) \
                 ORDER BY \"timestamp\" DESC, id DESC LIMIT $10"
            )),
            self.filter
        )
        .bind(at)
        .bind(id)
        .bind(BATCH)
        .fetch_all(&mut *uow)
        .await?;
        uow.commit().await?;
        Ok(rows)
    }
}

/// Appends `r` as one CSV line.
fn line(out: &mut String, r: &AuditRecord) {
    let opt = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    let fields = [
        r.id.to_string(),
        r.timestamp.to_string(),
        r.action.clone(),
        opt(r.user_id),
        opt(r.actor_id),
        r.resource_type.clone().unwrap_or_default(),
        opt(r.resource_id),
        r.ip_address.clone().unwrap_or_default(),
        r.user_agent.clone().unwrap_or_default(),
        r.metadata.to_string(),
        opt(r.organization_id),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push('\n');
}

/// One quoted field; a spreadsheet formula is neutralised with a leading `'`.
fn field(out: &mut String, v: &str) {
    out.push('"');
    if v.starts_with(['=', '+', '-', '@']) {
        out.push('\'');
    }
    out.push_str(&v.replace('"', "\"\""));
    out.push('"');
}

#[cfg(test)]
mod tests {
    fn field(v: &str) -> String {
        let mut out = String::new();
        super::field(&mut out, v);
        out
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(field("a\"b"), "\"a\"\"b\"");
        assert_eq!(field("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(field("+1"), "\"'+1\"");
        assert_eq!(field("-2"), "\"'-2\"");
        assert_eq!(field("@cmd"), "\"'@cmd\"");
        assert_eq!(field("line\nbreak, comma"), "\"line\nbreak, comma\"");
        assert_eq!(field("plain"), "\"plain\"");
    }
}
