//! human-agent: the permissions lookup Kong calls, and automatic assignment among 1 000 agents
//! holding 10 000 active assignments.
use std::time::Instant;

use serde_json::json;
use uuid::Uuid;

const CRED: &str = "bench-internal-credential-0123456789abcdef-xyz";

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

pub async fn run() -> anyhow::Result<()> {
    let svc = testkit::spawn_with(
        &human_agent::SERVICE,
        &[
            ("FLEET_INTERNAL_TOKEN", CRED),
            ("FLEET_DB_POOL_MAX", "8"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await?;
    // Fixture written directly: 1 000 online agents, 10 000 active assignments among them.
    let mut tx = kit::store::begin(&svc.db.app, kit::store::Scope::system()).await?;
    sqlx::query(
        "INSERT INTO agent_profiles (agent_id, user_id, email, full_name, primary_role, roles, skills, permissions, max_capacity, status) \
         SELECT gen_random_uuid(), gen_random_uuid(), 'a' || g || '@bench.test', 'Agent ' || g, 'support_specialist', \
                ARRAY['support_specialist'], ARRAY['billing'], '{\"support\": [\"read\", \"write\"]}'::jsonb, 20, 'online' \
         FROM generate_series(1, 1000) g",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO client_assignments (id, organization_id, client_id, agent_id, role_type, lifecycle_stage, assignment_type, first_response_due_at) \
         SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), a.agent_id, 'support_specialist', 'support', 'auto', now() \
         FROM (SELECT agent_id, row_number() OVER () AS n FROM agent_profiles) a, generate_series(1, 10) g",
    )
    .execute(&mut *tx)
    .await?;
    let agent: Uuid = sqlx::query_scalar("SELECT agent_id FROM agent_profiles LIMIT 1")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE agent_profiles, client_assignments")
        .execute(&svc.db.owner)
        .await?;

    println!("\n## human-agent (release, in-process)");
    let url = svc.url(&format!("/api/v1/agents/{agent}/permissions"));
    tokio::task::spawn_blocking(move || {
        crate::wrk("GET /agents/{id}/permissions (internal)", &url, Some(CRED))
    })
    .await??;

    let admin = svc
        .tokens
        .agent(Uuid::new_v4(), Uuid::new_v4(), &["platform_admin"]);
    let mut lat = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let res = svc
            .http
            .post(svc.url("/api/v1/agents/assignments"))
            .bearer_auth(&admin)
            .json(&json!({"client_id": Uuid::new_v4(), "organization_id": Uuid::new_v4(), "role_type": "support_specialist", "required_skills": ["billing"]}))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "assignment: {}", res.status());
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "auto-assignment, 1 000 agents / 10 000 active   p50 {:>6.2} ms  p99 {:>6.2} ms  (300 sequential)",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    svc.stop().await;
    Ok(())
}
