//! The row-level-security invariants of a service database: every table in `public` with an
//! `organization_id` column has RLS enabled and forced, and the application role owns nothing
//! (an owner bypasses RLS unless it is forced) and may not bypass RLS.
use kit::{ServiceDef, sqlx};

use crate::{APP_ROLE, TestDb};

/// What breaks the invariants in `db`, one line each (empty when none). `also` names further
/// tables that must have RLS forced (tenant tables keyed otherwise, e.g. `organizations.id`).
pub async fn forced_rls_violations(db: &TestDb, also: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let tenant_tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
           AND (c.relname = ANY($1) OR EXISTS (SELECT 1 FROM pg_attribute a \
                WHERE a.attrelid = c.oid AND a.attname = 'organization_id' \
                  AND a.attnum > 0 AND NOT a.attisdropped)) \
         ORDER BY 1",
    )
    .bind(also.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    .fetch_all(&db.owner)
    .await?;
    for name in also {
        if !tenant_tables.iter().any(|(t, _, _)| t == name) {
            out.push(format!("table {name} does not exist"));
        }
    }
    let unenabled: Vec<&str> = tenant_tables
        .iter()
        .filter(|(_, enabled, _)| !enabled)
        .map(|(t, _, _)| t.as_str())
        .collect();
    let unforced: Vec<&str> = tenant_tables
        .iter()
        .filter(|(_, _, forced)| !forced)
        .map(|(t, _, _)| t.as_str())
        .collect();
    if !unenabled.is_empty() {
        out.push(format!(
            "row-level security not enabled on: {}",
            unenabled.join(", ")
        ));
    }
    if !unforced.is_empty() {
        out.push(format!(
            "row-level security not forced on: {}",
            unforced.join(", ")
        ));
    }
    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles r ON r.oid = c.relowner \
         WHERE r.rolname = $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1",
    )
    .bind(APP_ROLE)
    .fetch_all(&db.owner)
    .await?;
    if !owned.is_empty() {
        out.push(format!(
            "the application role {APP_ROLE} owns: {}",
            owned.join(", ")
        ));
    }
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(APP_ROLE)
            .fetch_one(&db.owner)
            .await?;
    if superuser || bypass {
        out.push(format!(
            "the application role {APP_ROLE} bypasses row-level security (superuser {superuser}, bypassrls {bypass})"
        ));
    }
    if tenant_tables.is_empty() && also.is_empty() {
        out.push("no table has an organization_id column: nothing is tenant-scoped".into());
    }
    Ok(out)
}

/// [`forced_rls_violations`] as a check: `Err` names every table at fault.
pub async fn check_forced_rls(db: &TestDb, also: &[&str]) -> anyhow::Result<()> {
    let v = forced_rls_violations(db, also).await?;
    anyhow::ensure!(v.is_empty(), "database {}: {}", db.name, v.join("; "));
    Ok(())
}

/// Panics unless `db` keeps the invariants (see the module); the message names the tables.
pub async fn assert_forced_rls_in(db: &TestDb, also: &[&str]) {
    if let Err(e) = check_forced_rls(db, also).await {
        panic!("{e:#}");
    }
}

/// Creates `service`'s database as [`TestDb::new`] does (its migrations, the application role
/// granted) and panics unless it keeps the invariants.
pub async fn assert_forced_rls(service: &ServiceDef, also: &[&str]) {
    let db = TestDb::new(service.migrations)
        .await
        .unwrap_or_else(|e| panic!("creating {}'s test database: {e:#}", service.name));
    assert_forced_rls_in(&db, also).await;
}
