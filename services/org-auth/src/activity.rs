//! Members' last activity, recorded without writing on the read path: a request only notes
//! the member in memory (at most once a minute per member); a job writes the noted times in
//! one statement. A read stays a read — no row lock, no commit flush — and a burst of reads
//! by one member costs one UPDATE a minute, not one each.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use kit::{Db, Problem};
use time::OffsetDateTime;
use uuid::Uuid;

/// How often one member's activity is written at most.
const COALESCE: Duration = Duration::from_secs(60);

type Member = (Uuid, Uuid);

#[derive(Clone, Default)]
pub(crate) struct Activity {
    inner: Arc<Mutex<Noted>>,
}

#[derive(Default)]
struct Noted {
    /// When each member was last noted, so a burst of requests notes it once.
    last: HashMap<Member, Instant>,
    /// Noted and not yet written: member → the time it was active.
    pending: HashMap<Member, OffsetDateTime>,
}

impl Activity {
    /// Notes that `user` acted in `org` now. Never waits on the database.
    pub fn touch(&self, user: Uuid, org: Uuid) {
        let now = Instant::now();
        // One short critical section (two map operations, no await): the lock is never held
        // across I/O, so requests on both cores pass it in well under a microsecond.
        let mut noted = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = (user, org);
        if noted
            .last
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < COALESCE)
        {
            return;
        }
        noted.last.insert(key, now);
        noted.pending.insert(key, OffsetDateTime::now_utc());
    }

    /// Writes what was noted since the last flush and forgets members not seen for a minute.
    /// A failed write puts the times back for the next flush.
    pub async fn flush(&self, db: &Db) -> Result<usize, Problem> {
        let batch: Vec<(Member, OffsetDateTime)> = {
            let mut noted = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            noted.last.retain(|_, t| now.duration_since(*t) < COALESCE);
            noted.pending.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let result = write(db, &batch).await;
        if result.is_err() {
            let mut noted = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            for (k, at) in batch.iter().copied() {
                noted.pending.entry(k).or_insert(at);
            }
        }
        result.map(|_| batch.len())
    }
}

async fn write(db: &Db, batch: &[(Member, OffsetDateTime)]) -> Result<(), Problem> {
    let users: Vec<Uuid> = batch.iter().map(|((u, _), _)| *u).collect();
    let orgs: Vec<Uuid> = batch.iter().map(|((_, o), _)| *o).collect();
    let times: Vec<OffsetDateTime> = batch.iter().map(|(_, t)| *t).collect();
    // Across tenants: the members were authorised by the requests that noted them; the job
    // only moves their times forward (GREATEST), so a late flush never moves one back.
    let mut uow = db.system().await?;
    sqlx::query(
        "UPDATE team_memberships m \
            SET last_active_at = GREATEST(m.last_active_at, v.at) \
           FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS v(user_id, org, at) \
          WHERE m.user_id = v.user_id AND m.organization_id = v.org",
    )
    .bind(&users)
    .bind(&orgs)
    .bind(&times)
    .execute(&mut *uow)
    .await?;
    uow.commit().await
}
