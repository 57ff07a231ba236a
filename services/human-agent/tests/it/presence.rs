//! Presence: served from Redis with PostgreSQL as the record (versioned writes, the
//! reconciler, the record answering when Redis lost its state).
use std::time::Duration;

use crate::support::*;

/// Routing reads presence from Redis (a contradicting Redis state wins until the record is
/// reconciled), and falls back to PostgreSQL when Redis has lost its state.
#[tokio::test]
async fn presence_is_served_from_redis_and_the_record_backs_it() -> anyhow::Result<()> {
    use kit::cache::redis;
    let p = pair().await?;
    let skill = format!("skill{}", &Uuid::new_v4().simple().to_string()[..8]);
    let (a, a_t) = p.agent(&["support_specialist"], 3, &[&skill]).await?;
    let listed = || async {
        let (st, b) = p
            .get(&format!(
                "/api/v1/agents/available?role=support_specialist&skills={skill}"
            ))
            .bearer(&p.admin)
            .send()
            .await?
            .parts();
        assert_eq!(st, StatusCode::OK, "{b}");
        anyhow::Ok(
            b["available_agents"]
                .as_array()
                .map(|v| v.iter().any(|x| x["agent_id"] == json!(a)))
                .unwrap_or(false),
        )
    };
    assert!(!listed().await?, "registered agents start offline");
    p.online(a, &a_t).await?;
    assert!(
        listed().await?,
        "online is visible as soon as the change is answered"
    );

    let key = |k: &str| p.redis_key(k);
    let mut conn = p.shared.redis.get().await?;
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(key("presence:online"))
        .query_async(&mut conn)
        .await?;
    assert!(
        members.contains(&a.to_string()),
        "the online set holds the agent"
    );

    // Redis is what routing reads: with the agent removed there, it is not offered ...
    let _: i64 = redis::cmd("SREM")
        .arg(key("presence:online"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    assert!(!listed().await?);
    let (org, client) = (Uuid::new_v4(), Uuid::new_v4());
    let auto = json!({"client_id": client, "organization_id": org, "role_type": "support_specialist", "required_skills": [skill]});
    let (st, _) = p
        .post("/api/v1/agents/assignments")
        .bearer(&p.admin)
        .json(auto.clone())
        .send()
        .await?
        .parts();
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "auto-assignment reads the same presence"
    );
    // ... and without its state (a flushed Redis) the record answers.
    let _: i64 = redis::cmd("DEL")
        .arg(key("presence:warm"))
        .query_async(&mut conn)
        .await?;
    assert!(listed().await?);
    let (st, b) = p
        .post("/api/v1/agents/assignments")
        .bearer(&p.admin)
        .json(auto)
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["agent_id"], json!(a));

    // An older write reaching Redis late never overrides a newer one.
    p.online(a, &a_t).await?; // version n
    let held: i64 = redis::cmd("HGET")
        .arg(key("presence:version"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    let (st, _) = p
        .patch(&format!("/api/v1/agents/{a}/availability"))
        .bearer(&a_t)
        .json(json!({"status": "away"}))
        .send()
        .await?
        .parts();
    assert_eq!(st, StatusCode::OK);
    let status: String = redis::cmd("HGET")
        .arg(key("presence:status"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    assert_eq!(status, "away");
    let newer: i64 = redis::cmd("HGET")
        .arg(key("presence:version"))
        .arg(a.to_string())
        .query_async(&mut conn)
        .await?;
    assert!(newer > held);
    Ok(())
}

/// The reconciler rebuilds presence from the record: after Redis lost it, and after drift.
#[tokio::test]
async fn the_reconciler_rebuilds_presence_from_the_record() -> anyhow::Result<()> {
    use kit::cache::redis;
    let p = pair_with(&[("HUMAN_AGENT_PRESENCE_RECONCILE_SECS", "1")]).await?;
    let (a, a_t) = p.agent(&["support_specialist"], 3, &[]).await?;
    p.online(a, &a_t).await?;
    let key = |k: &str| p.redis_key(k);
    let mut conn = p.shared.redis.get().await?;
    let (online, warm, agent) = (key("presence:online"), key("presence:warm"), a.to_string());
    assert!(online_in_redis(&mut conn, &online, &warm, &agent).await?);
    for (what, keys) in [
        (
            "lost",
            vec![
                key("presence:online"),
                key("presence:status"),
                key("presence:version"),
                key("presence:warm"),
            ],
        ),
        ("drifted", vec![]),
    ] {
        if keys.is_empty() {
            let _: i64 = redis::cmd("SREM")
                .arg(key("presence:online"))
                .arg(a.to_string())
                .query_async(&mut conn)
                .await?;
        } else {
            let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
        }
        assert!(
            !online_in_redis(&mut conn, &online, &warm, &agent).await?,
            "{what}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !online_in_redis(&mut conn, &online, &warm, &agent).await? {
            assert!(
                std::time::Instant::now() < deadline,
                "{what} presence was not rebuilt"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn online_in_redis(
    conn: &mut kit::cache::Connection,
    online: &str,
    warm: &str,
    agent: &str,
) -> anyhow::Result<bool> {
    use kit::cache::redis;
    let (member, warm): (bool, bool) = redis::pipe()
        .sismember(online, agent)
        .exists(warm)
        .query_async(conn)
        .await?;
    Ok(member && warm)
}

/// An availability change reaches the permissions lookup at once (its cached answer carries
/// presence), and takes the spec's message and auto-assignment.
#[tokio::test]
async fn an_availability_change_is_answered_by_the_permissions_lookup_at_once() -> anyhow::Result<()>
{
    let p = pair().await?;
    let (a, a_t) = p.agent(&["support_specialist"], 3, &[]).await?;
    let lookup = || async {
        let b = p
            .get(&format!("/api/v1/agents/{a}/permissions"))
            .bearer(CRED)
            .expect(200)
            .await;
        anyhow::Ok(b.get("availability").unwrap_or(&b["presence"]).clone())
    };
    assert_eq!(lookup().await?, "offline");
    assert_eq!(lookup().await?, "offline", "answered from the cache now");
    let changed = p
        .patch(&format!("/api/v1/agents/{a}/availability"))
        .bearer(&a_t)
        .json(
            json!({"status": "busy", "status_message": "In client meeting until 3 PM",
                     "available_at": "2030-10-05T15:00:00Z", "auto_assign": false}),
        )
        .expect(200)
        .await;
    assert_eq!(changed["status_message"], "In client meeting until 3 PM");
    assert_eq!(changed["auto_assign_enabled"], false);
    assert!(changed["updated_at"].is_string());
    assert_eq!(lookup().await?, "busy", "not the cached offline");
    Ok(())
}
