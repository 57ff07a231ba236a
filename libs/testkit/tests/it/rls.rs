//! `assert_forced_rls` passes a database whose tenant tables all force RLS and names every
//! table at fault otherwise.
use kit::sqlx;
use testkit::TestDb;

static UNFORCED: sqlx::migrate::Migrator = sqlx::migrate!("tests/it/fixtures/unforced");

#[tokio::test]
async fn a_database_whose_tenant_tables_force_rls_passes() -> anyhow::Result<()> {
    let db = TestDb::new(testkit::sample::SERVICE.migrations).await?;
    assert_eq!(
        testkit::forced_rls_violations(&db, &[]).await?,
        Vec::<String>::new()
    );
    testkit::assert_forced_rls_in(&db, &[]).await;
    testkit::assert_forced_rls(&testkit::sample::SERVICE, &[]).await;
    Ok(())
}

#[tokio::test]
async fn a_tenant_table_without_forced_rls_fails_and_is_named() -> anyhow::Result<()> {
    let db = TestDb::new(&UNFORCED).await?;
    let v = testkit::forced_rls_violations(&db, &[]).await?;
    assert_eq!(
        v,
        [
            "row-level security not enabled on: drafts",
            "row-level security not forced on: drafts, notes",
        ],
        "{v:?}"
    );
    let err = testkit::check_forced_rls(&db, &[])
        .await
        .expect_err("unforced tables fail");
    assert!(err.to_string().contains(&db.name), "{err}");
    Ok(())
}

#[tokio::test]
#[should_panic(expected = "row-level security not forced on: drafts, notes")]
async fn assert_forced_rls_panics_naming_the_tables() {
    let db = TestDb::new(&UNFORCED).await.expect("test database");
    testkit::assert_forced_rls_in(&db, &[]).await;
}

#[tokio::test]
async fn a_table_the_application_role_owns_fails_and_is_named() -> anyhow::Result<()> {
    let db = TestDb::new(testkit::sample::SERVICE.migrations).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT CREATE ON SCHEMA public TO {}",
        testkit::APP_ROLE
    )))
    .execute(&db.owner)
    .await?;
    sqlx::query("CREATE TABLE app_owned (id INT)")
        .execute(&db.app)
        .await?;
    let v = testkit::forced_rls_violations(&db, &[]).await?;
    assert_eq!(
        v,
        [format!(
            "the application role {} owns: public.app_owned",
            testkit::APP_ROLE
        )],
        "{v:?}"
    );
    Ok(())
}

#[tokio::test]
async fn further_tables_can_be_required_to_force_rls() -> anyhow::Result<()> {
    let db = TestDb::new(testkit::sample::SERVICE.migrations).await?;
    let v = testkit::forced_rls_violations(&db, &["outbox", "no_such_table"]).await?;
    assert_eq!(
        v,
        [
            "table no_such_table does not exist",
            "row-level security not enabled on: outbox",
            "row-level security not forced on: outbox",
        ],
        "{v:?}"
    );
    Ok(())
}
