//! Which IP addresses a user-given URL may reach: only globally routable unicast ones.
//! Everything else (private, loopback, link-local, CGNAT, unique-local, IPv4-mapped, multicast,
//! unspecified, documentation and benchmarking ranges, cloud metadata) is refused.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused, for logs and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    SharedCgnat,
    UniqueLocal,
    Multicast,
    Mapped,
    Reserved,
    Metadata,
}

/// `Some(reason)` when `ip` must not be connected to on a user's behalf.
pub fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => Refusal::Metadata,
        // Alibaba Cloud's metadata service sits inside the shared range; named for the log.
        _ if ip == Ipv4Addr::new(100, 100, 100, 200) => Refusal::Metadata,
        (0, _, _) => Refusal::Unspecified,
        (127, _, _) => Refusal::Loopback,
        (10, _, _) | (192, 168, _) => Refusal::Private,
        (172, b, _) if (16..32).contains(&b) => Refusal::Private,
        (169, 254, _) => Refusal::LinkLocal,
        (100, b, _) if (64..128).contains(&b) => Refusal::SharedCgnat,
        (224..=239, _, _) => Refusal::Multicast,
        // 240/4 reserved and the broadcast address.
        (240..=255, _, _) => Refusal::Reserved,
        // IETF protocol assignments (incl. Oracle's 192.0.0.192 metadata), documentation,
        // benchmarking, the old 6to4 relay anycast.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (192, 88, 99) => {
            Refusal::Reserved
        }
        (198, 18 | 19, _) => Refusal::Reserved,
        _ => return None,
    })
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let seg = ip.segments();
    if ip.is_unspecified() {
        return Some(Refusal::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Refusal::Loopback);
    }
    // ::ffff:0:0/96 (IPv4-mapped) and ::/96 (IPv4-compatible, deprecated): refused outright,
    // whatever they embed, so no stack-specific translation can reach an internal address.
    if seg[..5] == [0; 5] && (seg[5] == 0xffff || seg[5] == 0) {
        return Some(Refusal::Mapped);
    }
    Some(match seg[0] {
        // AWS's IPv6 metadata endpoint fd00:ec2::254 is unique-local; named for the log.
        0xfd00 if seg[1] == 0x0ec2 => Refusal::Metadata,
        s if s & 0xfe00 == 0xfc00 => Refusal::UniqueLocal,
        s if s & 0xffc0 == 0xfe80 => Refusal::LinkLocal,
        // fec0::/10, site-local (deprecated, still routed privately by some networks).
        s if s & 0xffc0 == 0xfec0 => Refusal::Private,
        s if s & 0xff00 == 0xff00 => Refusal::Multicast,
        // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) and 6to4 (2002::/16) embed an
        // IPv4 address: refused when that one would be.
        0x0064 if seg[1] == 0xff9b => {
            return refusal_v4(embedded_v4(seg[6], seg[7])).map(|_| Refusal::Mapped);
        }
        0x2002 => return refusal_v4(embedded_v4(seg[1], seg[2])).map(|_| Refusal::Mapped),
        // Teredo (2001::/32), documentation (2001:db8::/32), ORCHIDv2 and benchmarking
        // (2001:2::/48, 2001:20::/28), discard-only (100::/64).
        0x2001 if seg[1] == 0 || seg[1] == 0x0db8 || seg[1] == 2 || (seg[1] & 0xfff0) == 0x20 => {
            Refusal::Reserved
        }
        0x0100 if seg[1..4] == [0, 0, 0] => Refusal::Reserved,
        _ => return None,
    })
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        refusal(s.parse().expect("address")).is_some()
    }

    #[test]
    fn internal_addresses_are_refused() {
        for a in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.192",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "2001:db8::1",
        ] {
            assert!(refused(a), "{a} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(a), "{a} should pass");
        }
    }
}
