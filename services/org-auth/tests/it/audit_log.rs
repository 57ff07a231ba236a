//! The organisation's audit log: filters, pages, CSV/JSON export, admins only.
use crate::support::*;

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports_csv_for_admins_only() -> anyhow::Result<()> {
    let t = svc().await?;
    let (org, admin_id, admin) = t.org_admin(&email("cfo"), "Brand Co").await?;
    let (_, viewer, _) = t.member(org, &admin, &email("v"), "viewer").await?;
    let path = format!("/api/v1/organizations/{org}");
    t.patch(&path)
        .bearer(&admin)
        .json(json!({"branding": {"primary_color": "#112233"}, "website": "https://brand.example"}))
        .expect(200)
        .await;

    let (st, logs) = t
        .get(&format!("{path}/audit-logs?action=organization_updated"))
        .bearer(&admin)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK, "{logs}");
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["records"][0]["actor_id"], admin_id.to_string());
    assert!(
        logs["records"][0]["ip_address"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("198.51.100."))
    );
    let (st, all) = t
        .get(&format!("{path}/audit-logs?limit=2"))
        .bearer(&admin)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    assert_eq!(all["records"].as_array().map(Vec::len), Some(2));
    assert!(all["total"].as_i64().unwrap_or(0) >= 3);
    let res = t
        .get(&format!("{path}/audit-logs?format=csv"))
        .bearer(&admin)
        .send()
        .await?;
    assert_eq!(res.headers["content-type"], "text/csv; charset=utf-8");
    let csv = res.text;
    assert!(
        csv.starts_with("id,timestamp,action,") && csv.contains("\"member_invited\""),
        "{csv}"
    );
    for q in [
        "format=xml",
        "from=yesterday",
        "limit=0",
        "page=0",
        "unknown=1",
    ] {
        let (st, body) = t
            .get(&format!("{path}/audit-logs?{q}"))
            .bearer(&admin)
            .send()
            .await?
            .parts();
        assert!(
            st == StatusCode::UNPROCESSABLE_ENTITY || st == StatusCode::BAD_REQUEST,
            "{q}: {st} {body}"
        );
    }
    let (st, _) = t
        .get(&format!("{path}/audit-logs"))
        .bearer(&viewer)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::FORBIDDEN);
    Ok(())
}
