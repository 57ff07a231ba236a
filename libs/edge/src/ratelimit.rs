//! The `rate-limiting` plugin with Kong's semantics: fixed windows per period (second …
//! year) counted in Redis, one counter set per plugin instance (a service-level instance is
//! shared by the service's routes), `X-RateLimit-*` and `RateLimit-*` headers, 429 with
//! `Retry-After`, and `fault_tolerant` letting requests through when Redis fails.
use kit::cache::{Pool, redis};

use crate::config::RateLimitConf;

/// Checks every period first and counts only when all allow (Kong counts after its check too).
/// KEYS: one per period. ARGV: the limit and window seconds per key.
const SCRIPT: &str = r"
for i, k in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', k) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then return {i, used} end
end
local out = {0}
for i, k in ipairs(KEYS) do
  local v = redis.call('INCR', k)
  if v == 1 then redis.call('EXPIRE', k, ARGV[2 * i]) end
  out[#out + 1] = v
end
return out
";

pub struct Limiter {
    pool: Pool,
    prefix: String,
    script: redis::Script,
}

pub enum Outcome {
    /// Allowed; response headers to add.
    Allowed(Vec<(String, String)>),
    /// Refused: seconds to wait, and headers.
    Refused(u64, Vec<(String, String)>),
}

fn periods(c: &RateLimitConf) -> Vec<(&'static str, u64, i64)> {
    [
        ("second", c.second, 1),
        ("minute", c.minute, 60),
        ("hour", c.hour, 3_600),
        ("day", c.day, 86_400),
        ("month", c.month, 2_592_000),
        ("year", c.year, 31_536_000),
    ]
    .into_iter()
    .filter_map(|(n, l, w)| l.map(|l| (n, l, w)))
    .collect()
}

fn title(p: &str) -> String {
    let mut c = p.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

impl Limiter {
    pub fn new(pool: Pool, namespace: &str) -> Limiter {
        Limiter {
            pool,
            prefix: format!("{namespace}gateway:rl:"),
            script: redis::Script::new(SCRIPT),
        }
    }

    /// Counts one request of `identifier` against the instance `scope` (its route or service).
    pub async fn check(
        &self,
        conf: &RateLimitConf,
        scope: &str,
        identifier: &str,
        now: i64,
    ) -> Result<Outcome, kit::cache::CacheError> {
        let ps = periods(conf);
        let mut inv = self.script.prepare_invoke();
        for (name, limit, window) in &ps {
            let start = now - now.rem_euclid(*window);
            inv.key(format!(
                "{}{scope}:{identifier}:{name}:{start}",
                self.prefix
            ))
            .arg(*limit)
            .arg(*window);
        }
        let mut conn = self.pool.get().await?;
        let out: Vec<i64> = inv.invoke_async(&mut conn).await?;
        let reset = |window: i64| window - now.rem_euclid(window);
        let mut headers = Vec::new();
        let refused = out.first().copied().unwrap_or(0);
        if refused > 0 {
            let (name, limit, window) = ps[usize::try_from(refused - 1).unwrap_or(0)];
            let wait = reset(window).max(1) as u64;
            if !conf.hide_client_headers {
                headers.push((
                    format!("X-RateLimit-Limit-{}", title(name)),
                    limit.to_string(),
                ));
                headers.push((format!("X-RateLimit-Remaining-{}", title(name)), "0".into()));
                headers.push(("RateLimit-Limit".into(), limit.to_string()));
                headers.push(("RateLimit-Remaining".into(), "0".into()));
                headers.push(("RateLimit-Reset".into(), wait.to_string()));
            }
            return Ok(Outcome::Refused(wait, headers));
        }
        if !conf.hide_client_headers {
            // RateLimit-* describe the period closest to its limit (Kong's choice).
            let mut tightest: Option<(u64, u64, i64)> = None;
            for (i, (name, limit, window)) in ps.iter().enumerate() {
                let used = u64::try_from(out.get(i + 1).copied().unwrap_or(0)).unwrap_or(0);
                let remaining = limit.saturating_sub(used);
                headers.push((
                    format!("X-RateLimit-Limit-{}", title(name)),
                    limit.to_string(),
                ));
                headers.push((
                    format!("X-RateLimit-Remaining-{}", title(name)),
                    remaining.to_string(),
                ));
                if tightest.is_none_or(|(_, r, _)| remaining < r) {
                    tightest = Some((*limit, remaining, *window));
                }
            }
            if let Some((limit, remaining, window)) = tightest {
                headers.push(("RateLimit-Limit".into(), limit.to_string()));
                headers.push(("RateLimit-Remaining".into(), remaining.to_string()));
                headers.push(("RateLimit-Reset".into(), reset(window).to_string()));
            }
        }
        Ok(Outcome::Allowed(headers))
    }
}
