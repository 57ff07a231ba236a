//! The SSRF guard: the allow-list of exempt hosts, the URL check made before every hop, and the
//! DNS resolver that filters resolved addresses, so a connection only ever goes to an address
//! that was checked (no window between checking a name and connecting to it).
use std::{
    collections::HashSet,
    error::Error as StdError,
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

use crate::{FetchError, address};

/// Hosts exempt from the address check (`FLEET_FETCH_ALLOW_HOSTS`: `host[:port]`, comma
/// separated; IPv6 literals in brackets). Empty by default.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    entries: Vec<(String, Option<u16>)>,
}

impl AllowList {
    /// Parses `host[:port],…`; a malformed entry is an error naming it.
    pub fn parse(spec: &str) -> Result<Self, FetchError> {
        let mut entries = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || FetchError::Config(format!("FLEET_FETCH_ALLOW_HOSTS entry {raw:?}"));
            let url = Url::parse(&format!("http://{raw}/")).map_err(|_| bad())?;
            let host = url.host_str().ok_or_else(bad)?;
            if url.path() != "/" || !url.username().is_empty() || url.query().is_some() {
                return Err(bad());
            }
            // `Url` drops a port equal to the scheme default; keep the one written.
            let port = raw
                .rsplit_once(':')
                .filter(|(h, _)| !h.ends_with(':') && (!raw.starts_with('[') || h.ends_with(']')))
                .map(|(_, p)| p.parse::<u16>().map_err(|_| bad()))
                .transpose()?;
            entries.push((normalise_host(host), port));
        }
        Ok(AllowList { entries })
    }

    /// From `FLEET_FETCH_ALLOW_HOSTS` in the process environment.
    pub fn from_env() -> Result<Self, FetchError> {
        Self::parse(&std::env::var("FLEET_FETCH_ALLOW_HOSTS").unwrap_or_default())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `host` (as in a URL) on `port` is exempt.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = normalise_host(host);
        self.entries
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| p == port))
    }

    fn names(&self) -> HashSet<String> {
        self.entries.iter().map(|(h, _)| h.clone()).collect()
    }
}

/// Lower-case, without IPv6 brackets or a trailing dot.
fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The check every hop's URL passes before a request: http(s) only, no credentials in the URL,
/// and an IP literal must be a public address (names are checked by [`GuardedResolver`] as they
/// are resolved). Returns whether the hop is exempt by the allow-list.
pub fn check_url(url: &Url, allow: &AllowList) -> Result<bool, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadScheme(url.scheme().to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::InvalidUrl(
            "credentials in the URL are not accepted".into(),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| FetchError::InvalidUrl("the URL has no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| FetchError::InvalidUrl("the URL has no port".into()))?;
    if allow.allows(host, port) {
        return Ok(true);
    }
    // `Url` has already normalised IP literals (decimal, octal and hex IPv4 forms included).
    if let Ok(ip) = normalise_host(host).parse::<IpAddr>()
        && address::refusal(ip).is_some()
    {
        return Err(FetchError::Blocked { addr: ip });
    }
    Ok(false)
}

/// The resolver's refusal, found again in reqwest's error chain by [`blocked_in`].
#[derive(Debug)]
pub struct BlockedAddress(pub IpAddr);

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resolved to a refused address {}", self.0)
    }
}

impl StdError for BlockedAddress {}

/// The address a refused resolution named, if `err`'s chain carries one.
pub fn blocked_in(err: &(dyn StdError + 'static)) -> Option<IpAddr> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(b) = e.downcast_ref::<BlockedAddress>() {
            return Some(b.0);
        }
        cur = e.source();
    }
    None
}

/// Resolves with the system resolver, then keeps only the addresses the guard admits; a name
/// whose addresses are all refused fails with [`BlockedAddress`]. Names on the allow-list are
/// passed through unfiltered, so only the exempt client is built with any.
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver {
    exempt: Arc<HashSet<String>>,
}

impl GuardedResolver {
    /// A resolver that filters every name.
    pub fn strict() -> Self {
        Self::default()
    }

    /// A resolver that passes the allow-list's names through.
    pub fn exempting(allow: &AllowList) -> Self {
        GuardedResolver {
            exempt: Arc::new(allow.names()),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = normalise_host(name.as_str());
        let exempt = self.exempt.contains(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if exempt {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let (ok, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = found
                .into_iter()
                .partition(|a| address::refusal(a.ip()).is_none());
            match (ok.is_empty(), refused.first()) {
                (false, _) => Ok(Box::new(ok.into_iter()) as Addrs),
                (true, Some(first)) => Err(Box::new(BlockedAddress(first.ip())) as _),
                (true, None) => Err(format!("{host} did not resolve").into()),
            }
        })
    }
}
