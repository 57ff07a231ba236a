//! The service's rate limits, in one place. Budgets per client address are checked by the
//! [`Within`] extractor before the request body is read, so every attempt counts — invalid ones
//! too — and an address over its budget is answered 429 whatever it sent. Budgets per key (an
//! address, a token, an organisation, an agent) are spent by the handler once it knows the key.
//!
//! A client address counts as its [`address_key`]: an IPv4 address on its own, an IPv6 address
//! by its /64, which one subscriber is routinely handed whole.
use std::{
    marker::PhantomData,
    net::{IpAddr, Ipv6Addr},
};

use axum::{extract::FromRequestParts, http::request::Parts};
use kit::{
    ClientIp, Problem,
    cache::{Limit, Subject},
};

use crate::AppState;

/// A named budget: at most `limit` calls per key.
pub(crate) struct Budget {
    pub name: &'static str,
    pub limit: Limit,
}

impl Budget {
    const fn new(name: &'static str, limit: Limit) -> Self {
        Budget { name, limit }
    }

    /// Counts one call for `key`; 429 with `Retry-After` over the budget.
    pub async fn spend(&self, s: &AppState, key: &str) -> Result<(), Problem> {
        s.limiter
            .enforce(self.name, Subject::Key(key), self.limit)
            .await?;
        Ok(())
    }

    /// Counts one call for `key`; whether it was within the budget (for refusals that must
    /// look like success).
    pub async fn allows(&self, s: &AppState, key: &str) -> Result<bool, Problem> {
        Ok(s.limiter
            .check(self.name, Subject::Key(key), self.limit)
            .await?
            .allowed)
    }
}

/// Verification attempts per email address.
pub(crate) const VERIFY_EMAIL: Budget = Budget::new("verify-email", Limit::per_hour(5));
/// Reset mails per address (beyond it, the request is silently not served).
pub(crate) const RESET_MAIL: Budget = Budget::new("password-reset-email", Limit::per_hour(5));
/// Claim attempts per claim token.
pub(crate) const CLAIM: Budget = Budget::new("claim", Limit::per_hour(5));
/// Invitations per organisation.
pub(crate) const INVITATIONS: Budget = Budget::new("invitations", Limit::per_day(100));
/// Assisted accounts per agent.
pub(crate) const ASSISTED_SIGNUPS: Budget = Budget::new("assisted-signup", Limit::per_day(100));
/// Claim links re-sent per account.
pub(crate) const CLAIM_RESENDS: Budget = Budget::new("resend-claim", Limit::per_day(10));

/// A budget per client address.
pub(crate) trait PerAddress {
    const BUDGET: Budget;
}

/// Signups per address.
pub(crate) struct Signup;
impl PerAddress for Signup {
    const BUDGET: Budget = Budget::new("signup", Limit::per_hour(10));
}

/// Sign-in attempts per address (both steps).
pub(crate) struct Login;
impl PerAddress for Login {
    const BUDGET: Budget = Budget::new("login", Limit::per_hour(20));
}

/// Reset requests per address.
pub(crate) struct PasswordReset;
impl PerAddress for PasswordReset {
    const BUDGET: Budget = Budget::new("password-reset", Limit::per_hour(10));
}

/// New passwords set with a mailed token, per address.
pub(crate) struct PasswordResetConfirm;
impl PerAddress for PasswordResetConfirm {
    const BUDGET: Budget = Budget::new("password-reset-confirm", Limit::per_hour(20));
}

/// OAuth starts and callbacks per address.
pub(crate) struct OAuth;
impl PerAddress for OAuth {
    const BUDGET: Budget = Budget::new("oauth", Limit::per_hour(50));
}

/// A request within the per-address budget `B`, counted before the body is read.
pub(crate) struct Within<B>(PhantomData<B>);

impl<B: PerAddress> FromRequestParts<AppState> for Within<B> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Problem> {
        let ClientIp(ip) = match ClientIp::from_request_parts(parts, s).await {
            Ok(ip) => ip,
            Err(never) => match never {},
        };
        s.limiter
            .enforce(
                B::BUDGET.name,
                Subject::Ip(&address_key(&ip)),
                B::BUDGET.limit,
            )
            .await?;
        Ok(Within(PhantomData))
    }
}

/// What a client address is counted as: an IPv4 address (also written IPv4-mapped) as itself,
/// an IPv6 address as its /64 (`2001:db8:1:2::/64`), anything else as given.
pub(crate) fn address_key(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(|a| a.to_canonical()) {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => {
            let network = Ipv6Addr::from(v6.to_bits() & !(u128::MAX >> 64));
            format!("{network}/64")
        }
        Err(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_addresses_count_per_64_and_ipv4_per_address() {
        assert_eq!(address_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            address_key("2001:db8:1:3::1"),
            address_key("2001:db8:1:2::1")
        );
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
        assert_ne!(address_key("192.0.2.8"), address_key("192.0.2.7"));
        assert_eq!(address_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("unknown"), "unknown");
    }
}
