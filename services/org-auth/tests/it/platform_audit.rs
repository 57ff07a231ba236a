//! The platform's audit log for platform admins (entries outside organisations too, filters),
//! and the CSV export of the whole filtered range, streamed in batches, for both logs.
use crate::support::*;

const PLATFORM: &str = "/api/v1/auth/audit-logs";

fn records(v: &Value) -> Vec<Value> {
    v["records"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn platform_admins_read_every_entry_with_filters_and_no_one_else_does() -> anyhow::Result<()>
{
    let t = svc().await?;
    let (org, admin_id, admin) = t.org_admin(&email("owner"), "Audit Co").await?;
    let stranger = email("nobody");
    t.post("/api/v1/auth/login")
        .json(json!({"email": stranger, "password": "Wrong-Pass-123"}))
        .expect(401)
        .await;
    let pa = t.agent(&["platform_admin"], None);

    let failed = t
        .get(&format!("{PLATFORM}?action=login_failed"))
        .auth(&pa.auth)
        .expect(200)
        .await;
    let hit = records(&failed);
    assert!(
        hit.iter()
            .any(|r| r["metadata"]["email"] == stranger.as_str() && r["organization_id"].is_null()),
        "{failed}"
    );
    assert!(hit.iter().all(|r| r["action"] == "login_failed"));

    let outside = t
        .get(&format!("{PLATFORM}?platform_only=true&limit=1000"))
        .auth(&pa.auth)
        .expect(200)
        .await;
    let outside = records(&outside);
    assert!(outside.iter().all(|r| r["organization_id"].is_null()));
    assert!(outside.iter().any(|r| r["action"] == "signup"));

    let inside = t
        .get(&format!("{PLATFORM}?organization_id={org}&limit=1000"))
        .auth(&pa.auth)
        .expect(200)
        .await;
    assert!(inside["total"].as_i64().unwrap_or(0) >= 1, "{inside}");
    assert!(
        records(&inside)
            .iter()
            .all(|r| r["organization_id"] == org.to_string())
    );

    let theirs = t
        .get(&format!("{PLATFORM}?user_id={admin_id}&limit=1000"))
        .auth(&pa.auth)
        .expect(200)
        .await;
    let theirs = records(&theirs);
    assert!(theirs.iter().any(|r| r["action"] == "signup"));
    let mine = admin_id.to_string();
    assert!(
        theirs
            .iter()
            .all(|r| r["user_id"] == mine.as_str() || r["actor_id"] == mine.as_str())
    );

    let future = t
        .get(&format!("{PLATFORM}?from=2999-01-01T00:00:00Z"))
        .auth(&pa.auth)
        .expect(200)
        .await;
    assert_eq!(future["total"], 0);

    // Nobody but a platform admin: an organisation's admin, an agent with every assisted
    // permission, no token at all.
    let sales = t.agent(
        &["sales_agent"],
        Some(json!({"assisted_signup": ["create", "read", "update"]})),
    );
    t.get(PLATFORM).bearer(&admin).expect_problem(403).await;
    t.get(PLATFORM).auth(&sales.auth).expect_problem(403).await;
    t.get(&format!("{PLATFORM}?format=csv"))
        .bearer(&admin)
        .expect_problem(403)
        .await;
    t.get(PLATFORM).expect_problem(401).await;
    for q in [
        "format=xml",
        "from=yesterday",
        "limit=0",
        "page=0",
        "unknown=1",
        "organization_id=nope",
        "platform_only=perhaps",
    ] {
        let (st, body) = t
            .get(&format!("{PLATFORM}?{q}"))
            .auth(&pa.auth)
            .send()
            .await?
            .parts();
        assert!(
            st == StatusCode::UNPROCESSABLE_ENTITY || st == StatusCode::BAD_REQUEST,
            "{q}: {st} {body}"
        );
    }
    Ok(())
}

/// `n` entries of `action` in `org` (one a second into the past), as the service's own work.
async fn entries(t: &OrgAuth, org: Option<Uuid>, action: &str, n: i32) -> anyhow::Result<()> {
    let mut tx = t.system_tx().await?;
    sqlx::query(
        "INSERT INTO audit_logs (id, organization_id, action, metadata, ip_address, user_agent, \"timestamp\") \
         SELECT gen_random_uuid(), $1, $2, jsonb_build_object('n', i), '192.0.2.7', \
                CASE WHEN i = 7 THEN '=HYPERLINK(\"http://evil\")' ELSE 'probe, \"quoted\"' END, \
                now() - make_interval(secs => i) \
         FROM generate_series(1, $3) AS i",
    )
    .bind(org)
    .bind(action)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The data lines of a CSV answer (the header checked), each line's first field.
fn csv_ids(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,timestamp,action,user_id,actor_id,resource_type,resource_id,ip_address,user_agent,metadata,organization_id"
        )
    );
    lines
        .map(|l| {
            l.split(',')
                .next()
                .unwrap_or_default()
                .trim_matches('"')
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_csv_export_holds_the_whole_filtered_range_in_order_and_only_the_tenants_own()
-> anyhow::Result<()> {
    let t = svc().await?;
    let (org_a, _, admin_a) = t.org_admin(&email("a"), "Export A").await?;
    let (org_b, _, admin_b) = t.org_admin(&email("b"), "Export B").await?;
    let (_, viewer, _) = t.member(org_a, &admin_a, &email("v"), "viewer").await?;
    // More than two batches of the export, and more than the largest JSON page.
    entries(&t, Some(org_a), "bulk_probe", 1203).await?;
    entries(&t, Some(org_b), "bulk_probe", 5).await?;
    entries(&t, None, "bulk_probe", 3).await?;

    let res = t
        .get(&format!(
            "/api/v1/organizations/{org_a}/audit-logs?format=csv&action=bulk_probe&limit=1"
        ))
        .bearer(&admin_a)
        .send()
        .await?;
    assert_eq!(res.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        res.headers["content-disposition"]
            .to_str()?
            .starts_with("attachment")
    );
    let csv = res.text;
    let ids = csv_ids(&csv);
    assert_eq!(ids.len(), 1203, "every matching entry, not one page");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 1203, "no entry twice across batches");
    assert!(
        !csv.contains(&org_b.to_string()),
        "another tenant's entries"
    );
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "formula neutralised"
    );
    assert!(
        csv.contains("\"probe, \"\"quoted\"\"\""),
        "quotes doubled, commas quoted"
    );
    // Newest first: the entry one second old leads.
    let first = csv.lines().nth(1).unwrap_or_default();
    assert!(
        first.contains("{\"\"n\"\": 1}") || first.contains("{\"\"n\"\":1}"),
        "{first}"
    );

    let pa = t.agent(&["platform_admin"], None);
    let all = t
        .get(&format!("{PLATFORM}?format=csv&action=bulk_probe"))
        .auth(&pa.auth)
        .send()
        .await?;
    assert_eq!(csv_ids(&all.text).len(), 1211);
    let only_b = t
        .get(&format!(
            "{PLATFORM}?format=csv&action=bulk_probe&organization_id={org_b}"
        ))
        .auth(&pa.auth)
        .send()
        .await?;
    assert_eq!(csv_ids(&only_b.text).len(), 5);
    let outside = t
        .get(&format!(
            "{PLATFORM}?format=csv&action=bulk_probe&platform_only=true"
        ))
        .auth(&pa.auth)
        .send()
        .await?;
    assert_eq!(csv_ids(&outside.text).len(), 3);

    // Another tenant's admin learns nothing; a member who is not an admin is refused.
    t.get(&format!(
        "/api/v1/organizations/{org_a}/audit-logs?format=csv"
    ))
    .bearer(&admin_b)
    .expect_problem(404)
    .await;
    t.get(&format!(
        "/api/v1/organizations/{org_a}/audit-logs?format=csv"
    ))
    .bearer(&viewer)
    .expect_problem(403)
    .await;
    let page = t
        .get(&format!(
            "/api/v1/organizations/{org_b}/audit-logs?action=bulk_probe&limit=1000"
        ))
        .bearer(&admin_b)
        .expect(200)
        .await;
    assert_eq!(page["total"], 5);
    Ok(())
}
