//! store against a real PostgreSQL: row-level security under a non-owner role, scoped
//! transactions, the outbox writer, constraint mapping.
use kit::{
    Problem,
    contracts::events::{Event, v1},
    store::{self, ConstraintExt, Scope},
};
use sqlx::Row;
use testkit::TestDb;
use uuid::Uuid;

/// A tenant table the way services declare them: organization_id, RLS enabled and forced.
async fn tenant_table(db: &TestDb) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE notes (
            id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
            organization_id UUID NOT NULL,
            body TEXT NOT NULL,
            CONSTRAINT notes_body_unique UNIQUE (organization_id, body)
         );
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         ALTER TABLE notes FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant ON notes USING (app_row_visible(organization_id))
            WITH CHECK (app_row_visible(organization_id));
         GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO fleet_app;",
    )
    .execute(&db.owner)
    .await?;
    Ok(())
}

async fn insert(db: &TestDb, org: Uuid, body: &str) -> anyhow::Result<()> {
    let mut tx = store::tenant_tx(&db.app, org).await?;
    sqlx::query("INSERT INTO notes (organization_id, body) VALUES ($1, $2)")
        .bind(org)
        .bind(body)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn rls_shows_only_the_current_tenant_without_a_where_clause() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    tenant_table(&db).await?;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    insert(&db, a, "a1").await?;
    insert(&db, a, "a2").await?;
    insert(&db, b, "b1").await?;

    // The application role is neither owner nor superuser: the policy binds it.
    let (owner, superuser, bypass): (bool, bool, bool) = sqlx::query_as(
        "SELECT pg_get_userbyid(c.relowner) = current_user, r.rolsuper, r.rolbypassrls
         FROM pg_class c, pg_roles r WHERE c.relname = 'notes' AND r.rolname = current_user",
    )
    .fetch_one(&db.app)
    .await?;
    assert!(!owner && !superuser && !bypass);

    // No WHERE organization_id: tenant A sees its two rows only.
    let mut tx = store::tenant_tx(&db.app, a).await?;
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM notes ORDER BY body")
        .fetch_all(&mut *tx)
        .await?;
    assert_eq!(bodies, vec!["a1", "a2"]);
    // B's id is invisible to A even when asked for directly.
    let b_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE organization_id = $1")
        .bind(b)
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(b_rows, 0);
    // A cannot write into B.
    let err = sqlx::query("INSERT INTO notes (organization_id, body) VALUES ($1, 'x')")
        .bind(b)
        .execute(&mut *tx)
        .await
        .expect_err("WITH CHECK must refuse another tenant's row");
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);

    // A's updates and deletes cannot touch B's rows.
    let mut tx = store::tenant_tx(&db.app, a).await?;
    let n = sqlx::query("UPDATE notes SET body = body || '!'")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    assert_eq!(n, 2);
    tx.commit().await?;
    let mut tx = store::tenant_tx(&db.app, b).await?;
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_all(&mut *tx)
        .await?;
    assert_eq!(bodies, vec!["b1"]);
    drop(tx);

    // Outside any scope nothing is visible: a forgotten context fails closed.
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&db.app)
        .await?;
    assert_eq!(none, 0);

    // The settings are transaction-local: the pooled connection does not keep A's context.
    let mut conn = db.app.acquire().await?;
    let leaked: Option<String> = sqlx::query_scalar(
        "SELECT nullif(current_setting('app.current_organization_id', true), '')",
    )
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(leaked, None);
    drop(conn);

    // Agents and the service's own work see across tenants.
    let mut tx = store::begin(&db.app, Scope::system()).await?;
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(all, 3);
    Ok(())
}

#[tokio::test]
async fn outbox_writer_stores_the_envelope_in_the_callers_transaction() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    let org = Uuid::new_v4();
    let event = v1::OrganizationCreated {
        organization_id: org.to_string(),
        admin_user_id: Uuid::new_v4().to_string(),
        industry: "e-commerce".into(),
        ..Default::default()
    };

    // Rolled back: nothing stays.
    let mut tx = store::tenant_tx(&db.app, org).await?;
    store::outbox::publish(&mut tx, "org-auth", org, org, &event).await?;
    tx.rollback().await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&db.app)
        .await?;
    assert_eq!(n, 0);

    let mut tx = store::tenant_tx(&db.app, org).await?;
    let id = store::outbox::publish(&mut tx, "org-auth", org, org, &event).await?;
    tx.commit().await?;
    let row = sqlx::query("SELECT topic, msg_key, event_type, payload, sent_at IS NULL AS unsent FROM outbox WHERE event_id = $1")
        .bind(id)
        .fetch_one(&db.app)
        .await?;
    assert_eq!(
        row.get::<String, _>("topic"),
        v1::OrganizationCreated::TOPIC
    );
    assert_eq!(row.get::<String, _>("msg_key"), org.to_string());
    assert_eq!(row.get::<String, _>("event_type"), "organization_created");
    assert!(row.get::<bool, _>("unsent"));
    let payload: serde_json::Value = row.get("payload");
    assert_eq!(payload["event_id"], id.to_string());
    assert_eq!(payload["source"], "org-auth");
    assert_eq!(payload["data"]["industry"], "e-commerce");
    Ok(())
}

#[tokio::test]
async fn constraint_violations_map_to_precise_problems() -> anyhow::Result<()> {
    let db = TestDb::platform().await?;
    tenant_table(&db).await?;
    let org = Uuid::new_v4();
    insert(&db, org, "same").await?;
    let mut tx = store::tenant_tx(&db.app, org).await?;
    let err = sqlx::query("INSERT INTO notes (organization_id, body) VALUES ($1, 'same')")
        .bind(org)
        .execute(&mut *tx)
        .await
        .on_constraint("notes_body_unique", || {
            Problem::conflict("a note with this body exists")
        })
        .expect_err("duplicate");
    assert_eq!(err.status().as_u16(), 409);
    assert_eq!(err.detail(), "a note with this body exists");
    drop(tx);

    // Without a specific mapping a unique violation is still a 409, never a 500.
    let mut tx = store::tenant_tx(&db.app, org).await?;
    let err: Problem = sqlx::query("INSERT INTO notes (organization_id, body) VALUES ($1, 'same')")
        .bind(org)
        .execute(&mut *tx)
        .await
        .expect_err("duplicate")
        .into();
    assert_eq!(err.status().as_u16(), 409);
    assert!(
        !err.detail().contains("notes_body_unique"),
        "no SQL detail leaks"
    );
    Ok(())
}

#[tokio::test]
async fn service_migrations_must_be_numbered_after_the_platform() -> anyhow::Result<()> {
    let bad = sqlx::migrate::Migrator::with_migrations(vec![sqlx::migrate::Migration::new(
        5,
        "too low".into(),
        sqlx::migrate::MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str("SELECT 1"),
        false,
    )]);
    let err = store::migrator(&bad).expect_err("rejected");
    assert!(err.to_string().contains("1000"));
    Ok(())
}
