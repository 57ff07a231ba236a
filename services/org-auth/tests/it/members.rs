//! Members: the list, roles and permissions, the last-admin guard, removal ending sessions.
use crate::support::*;

fn member_path(org: Uuid, user: Uuid) -> String {
    format!("/api/v1/organizations/{org}/members/{user}")
}

#[tokio::test]
async fn a_member_who_joined_lists_the_members() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org_id, _, admin) = t.org_admin(&email("john"), "Acme Corp").await?;
    let (_, member, _) = t.member(org_id, &admin, &email("sarah"), "member").await?;
    let (st, members) = t
        .get(&format!("/api/v1/organizations/{org_id}/members"))
        .bearer(&member)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "the member lists members: {members}");
    assert_eq!(members["total_members"], 2);
    assert_eq!(members["pending_invitations"], 0);
    Ok(())
}

#[tokio::test]
async fn only_admins_change_roles_and_the_last_admin_stays() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, admin_id, admin) = t.org_admin(&email("boss"), "Roles Inc").await?;
    let (_, member, _) = t.member(org, &admin, &email("m"), "member").await?;
    let (st, _) = t
        .patch(&member_path(org, admin_id))
        .bearer(&member)
        .json(json!({"role": "viewer"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::FORBIDDEN, "members cannot change roles");
    let (st, body) = t
        .patch(&member_path(org, admin_id))
        .bearer(&admin)
        .json(json!({"role": "member"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    let (st, body) = t
        .delete(&member_path(org, admin_id))
        .bearer(&admin)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_role_change_refuses_unknown_roles_and_permissions() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("boss"), "Roles Inc").await?;
    let (member_id, _, _) = t.member(org, &admin, &email("m"), "member").await?;
    for bad in [
        json!({"role": "owner"}),
        json!({"permissions": {"billing": ["read"]}}),
        json!({"permissions": {"research": ["delete"]}}),
        json!({"permissions": {"research": "read"}}),
        json!({}),
    ] {
        let (st, body) = t
            .patch(&member_path(org, member_id))
            .bearer(&admin)
            .json(&bad)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    Ok(())
}

#[tokio::test]
async fn an_admin_promotes_a_member_and_one_of_two_admins_may_step_down() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, admin_id, admin) = t.org_admin(&email("boss"), "Roles Inc").await?;
    let (member_id, _, _) = t.member(org, &admin, &email("m"), "member").await?;
    let (st, up) = t
        .patch(&member_path(org, member_id))
        .bearer(&admin)
        .json(json!({"role": "admin"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{up}");
    assert_eq!(up["role"], "admin");
    assert_eq!(up["updated_by"], admin_id.to_string());
    // Now two admins: one may step down.
    let (st, _) = t
        .patch(&member_path(org, member_id))
        .bearer(&admin)
        .json(json!({"role": "viewer"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    let (st, _) = t
        .patch(&member_path(org, Uuid::new_v4()))
        .bearer(&admin)
        .json(json!({"role": "viewer"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::NOT_FOUND);

    let events = t.outbox_types().await?;
    assert!(events.iter().any(|e| e == "member_role_updated"));
    let (old, new): (String, String) = sqlx::query_as(
        "SELECT payload->'data'->>'old_role', payload->'data'->>'new_role' FROM outbox WHERE event_type = 'member_role_updated' ORDER BY id LIMIT 1",
    )
    .fetch_one(&t.db().owner)
    .await?;
    assert_eq!((old.as_str(), new.as_str()), ("member", "admin"));
    let first = &t.assert_outbox("member_role_updated").await[0];
    assert_eq!(first.subject_id, member_id.to_string());
    Ok(())
}

#[tokio::test]
async fn removing_a_member_ends_its_sessions_at_once() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("boss"), "Roles Inc").await?;
    let (member_id, member, member_refresh) = t.member(org, &admin, &email("m"), "member").await?;
    let (st, removed) = t
        .delete(&member_path(org, member_id))
        .bearer(&admin)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{removed}");
    assert_eq!(removed["access_revoked"], true);
    let (st, _) = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": member_refresh}))
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the removed member's sessions ended at once"
    );
    let (st, _) = t
        .get(&format!("/api/v1/organizations/{org}/members"))
        .bearer(&member)
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the removed member's access token is revoked too"
    );
    let events = t.outbox_types().await?;
    assert!(events.iter().any(|e| e == "member_removed"));
    Ok(())
}

/// Waits until `n` sessions of the service's database wait for a lock (10 s at most).
async fn lock_waits(t: &OrgAuth, n: i64) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // pg_locks shows every role's waits (pg_stat_activity hides other roles' wait events);
        // the join keeps this database's sessions.
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
              WHERE a.datname = current_database() AND NOT l.granted",
        )
        .fetch_one(&t.db().owner)
        .await?;
        if waiting >= n {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{n} lock waits never came ({waiting})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_refresh_under_way_when_a_member_is_removed_does_not_outlive_the_removal()
-> anyhow::Result<()> {
    let t = svc().await?;
    let (org, _, admin) = t.org_admin(&email("boss"), "Race Inc").await?;
    let (member_id, _, member_refresh) = t.member(org, &admin, &email("m"), "member").await?;
    // The member's row, held: the refresh rotates its token and then waits to write the new one
    // (its foreign key needs the row), so it is under way when the removal starts.
    let mut hold = t.system_tx().await?;
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(member_id)
        .execute(&mut *hold)
        .await?;
    let refresh = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": member_refresh}))
        .send();
    let remove = async {
        lock_waits(&t, 1).await?;
        t.delete(&member_path(org, member_id))
            .bearer(&admin)
            .send()
            .await
    };
    let release = async {
        // The refresh waits for the row, the removal for the refresh: let the refresh finish.
        lock_waits(&t, 2).await?;
        hold.rollback().await?;
        anyhow::Ok(())
    };
    let (refreshed, removed, released) = tokio::join!(refresh, remove, release);
    released?;
    let (st, removed) = removed?.parts();
    assert_eq!(st, StatusCode::OK, "{removed}");
    let (st, refreshed) = refreshed?.parts();
    assert_eq!(st, StatusCode::OK, "the refresh under way completes");
    let (st, _) = t
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": s(&refreshed["refresh_token"])}))
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the token the refresh under way made is revoked with the rest"
    );
    Ok(())
}
