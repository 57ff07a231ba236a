//! Members' activity: recorded off the read path, coalesced to one write a minute per member.
use std::time::{Duration, Instant};

use crate::support::*;

/// The membership row's last activity and its version (`xmin` changes with every write).
async fn row(t: &OrgAuth, org: Uuid, user: Uuid) -> anyhow::Result<(Option<String>, String)> {
    Ok(sqlx::query_as(
        "SELECT last_active_at::text, xmin::text FROM team_memberships \
          WHERE organization_id = $1 AND user_id = $2",
    )
    .bind(org)
    .bind(user)
    .fetch_one(&mut *t.system_tx().await?)
    .await?)
}

#[tokio::test]
async fn reading_the_members_list_writes_nothing_and_activity_arrives_coalesced()
-> anyhow::Result<()> {
    let t = svc_with(&[("ORG_AUTH_ACTIVITY_FLUSH_SECS", "1")], "203.0.113.61").await?;
    let (org, _, admin) = t.org_admin(&email("reader"), "Readers Ltd").await?;
    let (user, member, _) = t.member(org, &admin, &email("member"), "member").await?;
    let mut tx = t.system_tx().await?;
    sqlx::query("UPDATE team_memberships SET last_active_at = NULL WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let members = format!("/api/v1/organizations/{org}/members");
    t.get(&members).bearer(&member).expect(200).await;

    // The read is noted and written by the flush job, not by the request.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (active, version) = loop {
        let (active, version) = row(&t, org, user).await?;
        if active.is_some() || Instant::now() > deadline {
            break (active, version);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(active.is_some(), "the member's activity was recorded");

    // Within the minute, further reads leave the row as it is, even across flushes.
    for _ in 0..10 {
        t.get(&members).bearer(&member).expect(200).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (again, after) = row(&t, org, user).await?;
    assert_eq!(after, version, "ten reads within the minute wrote nothing");
    assert_eq!(again, active);
    Ok(())
}

#[tokio::test]
async fn concurrent_reads_by_one_member_all_answer() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("busy"), "Busy Ltd").await?;
    let path = format!("/api/v1/organizations/{org}");
    let reads = (0..32).map(|_| t.get(&path).bearer(&admin).send());
    for r in futures::future::join_all(reads).await {
        assert_eq!(r?.status, StatusCode::OK);
    }
    Ok(())
}
