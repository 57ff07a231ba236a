//! The kit's unit of work, on this service's tables: a state change, its event and its audit row
//! commit together or not at all, and after-commit effects run only after a commit.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use kit::{
    Audit, AuditContext, Db, Origin, Problem, contracts::events::v1, sqlx::PgConnection,
    store::Scope,
};
use uuid::Uuid;

use crate::support::service;

/// An audit entry whose write fails when asked to, after the state change and the event.
struct Entry {
    note: Uuid,
    org: Uuid,
    fail: bool,
}

impl Audit for Entry {
    async fn write(self, conn: &mut PgConnection, ctx: &AuditContext) -> Result<(), Problem> {
        let table = if self.fail {
            "no_such_audit_table"
        } else {
            "note_audit"
        };
        let sql = format!(
            "INSERT INTO {table} (id, organization_id, note_id, action, actor_id, ip_address) \
             VALUES ($1, $2, $3, 'note_created', $4, $5)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(Uuid::now_v7())
            .bind(self.org)
            .bind(self.note)
            .bind(ctx.actor.user_id)
            .bind(&ctx.origin.ip)
            .execute(conn)
            .await?;
        Ok(())
    }
}

async fn counts(t: &testkit::Svc, note: Uuid) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM notes WHERE id = $1), \
                (SELECT count(*) FROM outbox WHERE payload->>'subject_id' = $1::text), \
                (SELECT count(*) FROM note_audit WHERE note_id = $1)",
    )
    .bind(note)
    .fetch_one(&mut *t.system_tx().await.expect("tx"))
    .await
    .expect("counts")
}

async fn change(
    db: &Db,
    org: Uuid,
    note: Uuid,
    fail: bool,
    ran: Arc<AtomicBool>,
) -> Result<(), Problem> {
    let origin = Origin {
        ip: "203.0.113.7".into(),
        user_agent: None,
    };
    let mut uow = db.begin(Scope::tenant(org)).await?.from(&origin);
    sqlx::query("INSERT INTO notes (id, organization_id, title) VALUES ($1, $2, 'atomic')")
        .bind(note)
        .bind(org)
        .execute(&mut *uow)
        .await?;
    uow.emit_here(
        note,
        &v1::NoteCreated {
            note_id: note.to_string(),
            organization_id: org.to_string(),
            title: "atomic".into(),
            created_by: String::new(),
        },
    )
    .await?;
    uow.after_commit(async move { ran.store(true, Ordering::SeqCst) });
    uow.audit(Entry { note, org, fail }).await?;
    uow.commit().await
}

#[tokio::test]
async fn a_failure_after_the_event_write_leaves_neither_the_change_nor_the_event_nor_the_effect() {
    let t = service().await;
    let db = Db::new(t.db().app.clone(), "service-template");
    let (org, note) = (Uuid::new_v4(), Uuid::new_v4());
    let ran = Arc::new(AtomicBool::new(false));
    let err = change(&db, org, note, true, ran.clone())
        .await
        .expect_err("the audit write fails");
    assert_eq!(err.status().as_u16(), 500);
    assert_eq!(
        counts(&t, note).await,
        (0, 0, 0),
        "nothing of the unit was kept"
    );
    assert!(
        !ran.load(Ordering::SeqCst),
        "no effect ran for a rolled-back unit"
    );

    change(&db, org, note, false, ran.clone())
        .await
        .expect("the same unit commits");
    assert_eq!(
        counts(&t, note).await,
        (1, 1, 1),
        "change, event and audit row together"
    );
    assert!(
        ran.load(Ordering::SeqCst),
        "the effect ran after the commit"
    );
}
