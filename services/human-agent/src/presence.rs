//! Presence, handoff queues and the permissions answer, held in Redis for speed.
//!
//! PostgreSQL stays the record: every change is committed there first and then written here.
//! Routing (auto-assignment, `GET /agents/available`) reads the online set from Redis; the row
//! lock in PostgreSQL still decides (an agent Redis calls online but the record does not is
//! skipped). When Redis has lost its state (restart, flush) the `warm` marker is missing and
//! readers fall back to PostgreSQL until the reconciler (every `HUMAN_AGENT_PRESENCE_RECONCILE_SECS`,
//! default [`RECONCILE_EVERY`]) rebuilds it.
//!
//! Ordering: two presence changes for one agent may commit in one order and reach Redis in the
//! other. Each change carries `presence_version` (a sequence value taken under the row lock), and
//! the script below keeps a status only when its version is newer than the one held.
use std::time::Duration;

use kit::{
    Db,
    cache::{CacheError, Pool, redis},
};
use uuid::Uuid;

use crate::rules::AgentStatus;

/// How often the Redis state is rebuilt from the record by default (drift and lost state heal
/// within it).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);
/// How long a permissions answer is kept; every change to an agent deletes it at once.
const PERMISSIONS_TTL_SECS: u64 = 60;

/// KEYS: versions hash, status hash, online set. ARGV: agent, version, status. An older version
/// is ignored; the same version is written again (the reconciler repairs drift that way).
const SET_STATUS: &str = r"
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) < held then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[3] == 'online' then redis.call('SADD', KEYS[3], ARGV[1]) else redis.call('SREM', KEYS[3], ARGV[1]) end
return 1
";

/// An agent's presence in the record.
#[derive(sqlx::FromRow)]
struct Held {
    agent_id: Uuid,
    presence_version: i64,
    status: AgentStatus,
}

/// A pending handoff in the record, queued for its receiver by when it was initiated.
#[derive(sqlx::FromRow)]
struct Queued {
    to_agent_id: Uuid,
    id: Uuid,
    /// Seconds since the epoch: the queue's score.
    initiated: f64,
}

#[derive(Clone)]
pub struct Presence {
    pool: Pool,
    prefix: String,
    set_status: redis::Script,
}

impl Presence {
    /// `namespace` keeps fleets (tests) sharing one Redis apart.
    pub fn new(pool: Pool, namespace: &str) -> Self {
        Presence {
            pool,
            prefix: format!("{namespace}human-agent:"),
            set_status: redis::Script::new(SET_STATUS),
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    /// Records a committed presence change (ignored when a newer one is already held).
    pub async fn set_status(
        &self,
        agent: Uuid,
        version: i64,
        status: AgentStatus,
    ) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await?;
        let _: i64 = self
            .set_status
            .key(self.key("presence:version"))
            .key(self.key("presence:status"))
            .key(self.key("presence:online"))
            .arg(agent.to_string())
            .arg(version)
            .arg(status.as_str())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The agents whose presence is `online`, or `None` when Redis cannot answer for the
    /// record (unreachable, or its state lost and not yet rebuilt): callers then read PostgreSQL.
    pub async fn online(&self) -> Option<Vec<Uuid>> {
        let res: Result<(bool, Vec<String>), CacheError> = async {
            let mut conn = self.pool.get().await?;
            Ok(redis::pipe()
                .exists(self.key("presence:warm"))
                .smembers(self.key("presence:online"))
                .query_async(&mut conn)
                .await?)
        }
        .await;
        match res {
            Ok((true, ids)) => Some(ids.iter().filter_map(|s| s.parse().ok()).collect()),
            Ok((false, _)) => None,
            Err(e) => {
                tracing::warn!(error = %e, "presence unavailable; routing reads the record");
                None
            }
        }
    }

    /// Rebuilds presence and every agent's queue from the record. Newer changes written while
    /// this runs win (versions), so it never moves an agent back in time.
    pub async fn reconcile(&self, db: &Db) -> anyhow::Result<()> {
        let mut uow = db.system().await?;
        let rows: Vec<Held> =
            sqlx::query_as("SELECT agent_id, presence_version, status FROM agent_profiles")
                .fetch_all(&mut *uow)
                .await?;
        let queued: Vec<Queued> = sqlx::query_as(
            "SELECT to_agent_id, id, extract(epoch FROM initiated_at)::float8 AS initiated FROM handoffs WHERE status = 'pending'",
        )
        .fetch_all(&mut *uow)
        .await?;
        uow.commit().await?;
        let mut conn = self.pool.get().await?;
        for chunk in rows.chunks(500) {
            let mut pipe = redis::pipe();
            for r in chunk {
                pipe.invoke_script(
                    self.set_status
                        .key(self.key("presence:version"))
                        .key(self.key("presence:status"))
                        .key(self.key("presence:online"))
                        .arg(r.agent_id.to_string())
                        .arg(r.presence_version)
                        .arg(r.status.as_str()),
                )
                .ignore();
            }
            let () = pipe.query_async(&mut conn).await?;
        }
        let agents: Vec<Uuid> = rows.iter().map(|r| r.agent_id).collect();
        self.write_queues(&mut conn, &agents, &queued).await?;
        let () = redis::cmd("SET")
            .arg(self.key("presence:warm"))
            .arg(1)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn write_queues(
        &self,
        conn: &mut kit::cache::Connection,
        agents: &[Uuid],
        queued: &[Queued],
    ) -> Result<(), CacheError> {
        for chunk in agents.chunks(500) {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for a in chunk {
                let key = self.key(&format!("queue:{a}"));
                pipe.del(&key).ignore();
                for q in queued.iter().filter(|q| q.to_agent_id == *a) {
                    pipe.zadd(&key, q.id.to_string(), q.initiated).ignore();
                }
            }
            let () = pipe.query_async(&mut *conn).await?;
        }
        Ok(())
    }

    /// Rewrites the handoff queues of `agents` from the record (after a commit that changed
    /// them). A failure is logged: the reconciler repairs it and readers fall back.
    pub async fn sync_queues(&self, db: &Db, agents: &[Uuid]) {
        let res: anyhow::Result<()> = async {
            let mut uow = db.system().await?;
            let queued: Vec<Queued> = sqlx::query_as(
                "SELECT to_agent_id, id, extract(epoch FROM initiated_at)::float8 AS initiated FROM handoffs \
                 WHERE status = 'pending' AND to_agent_id = ANY($1)",
            )
            .bind(agents)
            .fetch_all(&mut *uow)
            .await?;
            uow.commit().await?;
            let mut conn = self.pool.get().await?;
            self.write_queues(&mut conn, agents, &queued).await?;
            Ok(())
        }
        .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "handoff queue not written to redis");
        }
    }

    /// The handoffs waiting for `agent`, oldest first; `None` when Redis cannot answer.
    pub async fn queue(&self, agent: Uuid) -> Option<Vec<Uuid>> {
        let res: Result<(bool, Vec<String>), CacheError> = async {
            let mut conn = self.pool.get().await?;
            Ok(redis::pipe()
                .exists(self.key("presence:warm"))
                .zrange(self.key(&format!("queue:{agent}")), 0, -1)
                .query_async(&mut conn)
                .await?)
        }
        .await;
        match res {
            Ok((true, ids)) => Some(ids.iter().filter_map(|s| s.parse().ok()).collect()),
            _ => None,
        }
    }

    /// The cached permissions answer (JSON) for `agent`, if any.
    pub async fn cached_permissions(&self, agent: Uuid) -> Option<String> {
        let mut conn = self.pool.get().await.ok()?;
        redis::cmd("GET")
            .arg(self.key(&format!("permissions:{agent}")))
            .query_async::<Option<String>>(&mut conn)
            .await
            .ok()
            .flatten()
    }

    pub async fn store_permissions(&self, agent: Uuid, json: &str) {
        if let Ok(mut conn) = self.pool.get().await {
            let _: Result<(), _> = redis::cmd("SET")
                .arg(self.key(&format!("permissions:{agent}")))
                .arg(json)
                .arg("EX")
                .arg(PERMISSIONS_TTL_SECS)
                .query_async(&mut conn)
                .await;
        }
    }

    /// Drops the cached permissions answer after a committed change to the agent. Failing to
    /// reach Redis here would serve stale permissions, so it is an error the caller reports.
    pub async fn forget_permissions(&self, agent: Uuid) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await?;
        let _: i64 = redis::cmd("DEL")
            .arg(self.key(&format!("permissions:{agent}")))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}
