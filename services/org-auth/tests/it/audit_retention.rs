//! Retention: entries older than `ORG_AUTH_AUDIT_RETENTION_DAYS` are deleted by a periodic job,
//! which says so in the log.
use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn entries_past_the_retention_period_are_deleted_and_the_deletion_is_audited()
-> anyhow::Result<()> {
    let t = svc_with(
        &[
            ("ORG_AUTH_AUDIT_RETENTION_DAYS", "200"),
            ("ORG_AUTH_AUDIT_RETENTION_SWEEP_SECS", "1"),
        ],
        "203.0.113.71",
    )
    .await?;
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "INSERT INTO audit_logs (id, action, metadata, \"timestamp\") \
         SELECT gen_random_uuid(), 'retention_probe', jsonb_build_object('age_days', d), now() - make_interval(days => d) \
         FROM unnest(ARRAY[400, 250, 199]) AS d",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let kept = loop {
        let ages: Vec<i32> = sqlx::query_scalar(
            "SELECT (metadata->>'age_days')::int FROM audit_logs WHERE action = 'retention_probe' ORDER BY 1",
        )
        .fetch_all(&mut *t.system_tx().await?)
        .await?;
        if ages.len() < 3 {
            break ages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retention job did not run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(kept, vec![199], "only the entries past 200 days go");
    let purged: Vec<Value> =
        sqlx::query_scalar("SELECT metadata FROM audit_logs WHERE action = 'audit_logs_purged'")
            .fetch_all(&mut *t.system_tx().await?)
            .await?;
    let deleted: i64 = purged.iter().filter_map(|m| m["deleted"].as_i64()).sum();
    assert_eq!(deleted, 2, "{purged:?}");
    assert!(purged.iter().all(|m| m["retention_days"] == 200));
    Ok(())
}
