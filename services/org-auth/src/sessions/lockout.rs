//! The sign-in lockout, kept per address and per source (a client address as the rate limits
//! count it: IPv4 on its own, IPv6 by its /64). The specification and its seed notes ask for
//! five failures locking for fifteen minutes, progressive delays, an admin unlock, and MFA
//! failures counting too; kept per source, a failing stranger cannot lock the owner out.
//!
//! - Five failures in a row from one source lock that source out of the address for fifteen
//!   minutes, absolutely: even the right password is answered like a wrong one.
//! - The failures from every source together slow the address down: from the sixth on (more
//!   than any one source can make), each new attempt waits a delay that doubles with each
//!   failure (1 s, 2 s, 4 s, … at most fifteen minutes), answered 429 with `Retry-After`, no
//!   password checked. A source that gave the account's right password within 30 days is not
//!   held up, so failures from elsewhere cannot keep the owner out from the owner's address.
//! - Counters are kept by address whether it has an account or not, so no answer tells the
//!   two apart. A count is forgotten a day after its last failure.
//! - A successful sign-in, an admin unlock and a new password lift every lock of the account
//!   and restart its counts: they zero `users.failed_login_count` and clear
//!   `users.locked_until`, which holds the end of the account's latest lock (a lock is in
//!   force only while that has not passed).
use std::time::Duration;

use kit::{Problem, sqlx::PgConnection};
use uuid::Uuid;

/// Failures in a row from one source before it is locked out, and for how long.
pub(crate) const LOCK_AFTER: i32 = 5;
const LOCK_MINUTES: i32 = 15;
/// Failures from all sources together before new attempts wait.
const DELAY_AFTER: i32 = LOCK_AFTER + 1;
const LONGEST_DELAY: Duration = Duration::from_secs(LOCK_MINUTES as u64 * 60);
/// The row that counts an address's failures from every source (no client address is `*`).
const ALL_SOURCES: &str = "*";

/// How a source stands with an address before its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The password is checked.
    Open,
    /// Locked out: answered like a wrong password, whatever it is.
    Locked,
    /// Held up: try again in this many seconds.
    Delayed { retry_after: u64 },
}

#[derive(sqlx::FromRow)]
struct Counts {
    locked: bool,
    trusted: bool,
    failures: i32,
    since_last: f64,
}

/// How `source` stands with `email` now (a read: takes no lock).
pub(crate) async fn standing(
    conn: &mut PgConnection,
    email: &str,
    source: &str,
) -> Result<Standing, Problem> {
    let c: Counts = sqlx::query_as(
        "SELECT \
           COALESCE(src.locked_until > now() AND (u.id IS NULL OR u.locked_until > now()), false) AS locked, \
           COALESCE(src.signed_in_at > now() - interval '30 days', false) AS trusted, \
           CASE WHEN u.failed_login_count = 0 OR every.last_failed_at <= now() - interval '1 day' THEN 0 \
                ELSE COALESCE(every.failures, 0) END AS failures, \
           COALESCE(EXTRACT(EPOCH FROM now() - every.last_failed_at)::float8, 0) AS since_last \
         FROM (SELECT lower($1) AS email) q \
         LEFT JOIN users u ON lower(u.email) = q.email \
         LEFT JOIN login_failures src ON src.email = q.email AND src.source = $2 \
         LEFT JOIN login_failures every ON every.email = q.email AND every.source = $3",
    )
    .bind(email)
    .bind(source)
    .bind(ALL_SOURCES)
    .fetch_one(conn)
    .await?;
    if c.locked {
        return Ok(Standing::Locked);
    }
    let wait = delay(c.failures).saturating_sub(Duration::from_secs_f64(c.since_last.max(0.0)));
    Ok(if c.trusted || wait.is_zero() {
        Standing::Open
    } else {
        Standing::Delayed {
            retry_after: wait
                .as_millis()
                .div_ceil(1000)
                .try_into()
                .unwrap_or(u64::MAX),
        }
    })
}

/// The wait after `failures` from all sources: none up to [`DELAY_AFTER`], then 1 s doubling
/// with each failure, at most [`LONGEST_DELAY`].
fn delay(failures: i32) -> Duration {
    let Ok(beyond) = u32::try_from(failures - DELAY_AFTER) else {
        return Duration::ZERO;
    };
    Duration::from_secs(1u64.checked_shl(beyond).unwrap_or(u64::MAX)).min(LONGEST_DELAY)
}

/// What a counted failure did.
pub(crate) struct Failed {
    /// The account of the address, if it has one.
    pub user: Option<Uuid>,
    /// Whether this failure locked the source out.
    pub locked_now: bool,
}

#[derive(sqlx::FromRow)]
struct Account {
    id: Uuid,
    failed_login_count: i32,
}

/// Counts a failure of `source` for `email` (the caller checked it is not locked out).
pub(crate) async fn failed(
    conn: &mut PgConnection,
    email: &str,
    source: &str,
) -> Result<Failed, Problem> {
    // The account's row first: its lock orders concurrent failures of one account, so the
    // restart below cannot interleave with another failure's count.
    let account: Option<Account> = sqlx::query_as(
        "UPDATE users SET failed_login_count = failed_login_count + 1 WHERE lower(email) = lower($1) \
         RETURNING id, failed_login_count",
    )
    .bind(email)
    .fetch_optional(&mut *conn)
    .await?;
    if account.as_ref().is_some_and(|a| a.failed_login_count == 1) {
        // The first failure since a sign-in, an unlock or a new password: counts restart.
        sqlx::query(
            "UPDATE login_failures SET failures = 0, locked_until = NULL WHERE email = lower($1)",
        )
        .bind(email)
        .execute(&mut *conn)
        .await?;
    }
    let counted: Vec<(i32, bool)> = sqlx::query_as(
        "INSERT INTO login_failures (email, source, failures, last_failed_at, expires_at) \
         VALUES (lower($1), $2, 1, now(), now() + interval '1 day'), (lower($1), $3, 1, now(), now() + interval '1 day') \
         ON CONFLICT (email, source) DO UPDATE SET \
           failures = CASE WHEN login_failures.last_failed_at <= now() - interval '1 day' THEN 1 \
                           ELSE login_failures.failures + 1 END, \
           last_failed_at = now(), locked_until = NULL, \
           expires_at = GREATEST(login_failures.expires_at, EXCLUDED.expires_at) \
         RETURNING failures, source = $2 AS this_source",
    )
    .bind(email)
    .bind(source)
    .bind(ALL_SOURCES)
    .fetch_all(&mut *conn)
    .await?;
    let in_a_row = counted
        .iter()
        .find(|(_, mine)| *mine)
        .map_or(0, |(n, _)| *n);
    let locked_now = in_a_row >= LOCK_AFTER;
    if locked_now {
        lock(conn, email, source, account.as_ref().map(|a| a.id)).await?;
    }
    forget_expired(conn).await?;
    Ok(Failed {
        user: account.map(|a| a.id),
        locked_now,
    })
}

/// Locks `source` out of `email`; the account's lock end moves to the latest.
async fn lock(
    conn: &mut PgConnection,
    email: &str,
    source: &str,
    user: Option<Uuid>,
) -> Result<(), Problem> {
    sqlx::query(
        "UPDATE login_failures SET failures = 0, locked_until = now() + make_interval(mins => $3) \
         WHERE email = lower($1) AND source = $2",
    )
    .bind(email)
    .bind(source)
    .bind(LOCK_MINUTES)
    .execute(&mut *conn)
    .await?;
    if let Some(user) = user {
        sqlx::query(
            "UPDATE users SET locked_until = GREATEST(locked_until, now() + make_interval(mins => $2)) \
             WHERE id = $1",
        )
        .bind(user)
        .bind(LOCK_MINUTES)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Drops a batch of counters nobody needs any more. Rows another failure is writing are
/// skipped, not waited for: two cleanups never block each other.
async fn forget_expired(conn: &mut PgConnection) -> Result<(), Problem> {
    sqlx::query(
        "DELETE FROM login_failures WHERE (email, source) IN (SELECT email, source FROM login_failures \
         WHERE expires_at < now() LIMIT 100 FOR UPDATE SKIP LOCKED)",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// `source` gave the right password for `email`: for 30 days it is not held up by failures
/// from elsewhere.
pub(crate) async fn knew_password(
    conn: &mut PgConnection,
    email: &str,
    source: &str,
) -> Result<(), Problem> {
    sqlx::query(
        "INSERT INTO login_failures (email, source, signed_in_at, expires_at) \
         VALUES (lower($1), $2, now(), now() + interval '30 days') \
         ON CONFLICT (email, source) DO UPDATE SET signed_in_at = now(), \
           expires_at = GREATEST(login_failures.expires_at, EXCLUDED.expires_at)",
    )
    .bind(email)
    .bind(source)
    .execute(conn)
    .await?;
    Ok(())
}

/// An admin's unlock: every lock of `user`'s account lifted and its counts restarted (see the
/// module's rules); whether it was locked.
pub(crate) async fn unlock(conn: &mut PgConnection, user: Uuid) -> Result<bool, Problem> {
    let lifted = sqlx::query(
        "UPDATE users SET locked_until = NULL, failed_login_count = 0 WHERE id = $1 AND locked_until IS NOT NULL",
    )
    .bind(user)
    .execute(conn)
    .await?;
    Ok(lifted.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_past_what_one_source_may_fail_and_double_up_to_fifteen_minutes() {
        for f in 0..=LOCK_AFTER {
            assert_eq!(delay(f), Duration::ZERO, "{f}");
        }
        assert_eq!(delay(6), Duration::from_secs(1));
        assert_eq!(delay(7), Duration::from_secs(2));
        assert_eq!(delay(10), Duration::from_secs(16));
        assert_eq!(delay(16), LONGEST_DELAY);
        assert_eq!(delay(i32::MAX), LONGEST_DELAY);
        assert_eq!(delay(-3), Duration::ZERO);
    }
}
