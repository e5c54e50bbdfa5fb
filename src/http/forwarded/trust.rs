//! Which peers may speak for their clients: `--forwarded-allow-ips`, parsed once per worker.

use std::net::IpAddr;

/// The proxies whose forwarding headers are believed: IP networks, or every peer (`*`).
/// Unix-socket peers are trusted whatever the list says (see [`super::resolve`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProxyTrust {
    everyone: bool,
    networks: Vec<Network>,
}

/// An address with a prefix length (`10.0.0.0/8`; a plain address is a `/32` or `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyTrust {
    /// From the list's entries: `*`, an address, or `address/prefix`. Entries are already
    /// validated by the Python config (which also refuses host bits after the prefix); an
    /// entry that does not parse here is reported as it is.
    pub(crate) fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut trust = Self::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry == "*" {
                trust.everyone = true;
            } else {
                trust.networks.push(Network::parse(entry)?);
            }
        }
        Ok(trust)
    }

    /// Whether `ip` is a trusted proxy. An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what
    /// a dual-stack socket reports for an IPv4 peer) is also matched as the IPv4 address.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        if self.everyone {
            return true;
        }
        let canonical = ip.to_canonical();
        self.networks
            .iter()
            .any(|n| n.contains(ip) || (canonical != ip && n.contains(canonical)))
    }
}

impl Network {
    fn parse(entry: &str) -> Result<Self, String> {
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{entry}' is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{entry}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Self::unmapped(addr, prefix))
    }

    /// An IPv4-mapped network (`::ffff:10.0.0.0/104`) as the IPv4 network it stands for, so
    /// that it matches the canonical form of a peer too.
    fn unmapped(addr: IpAddr, prefix: u8) -> Self {
        match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Self {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                },
                None => Self { addr, prefix },
            },
            _ => Self { addr, prefix },
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(entries: &[&str]) -> ProxyTrust {
        ProxyTrust::parse(entries).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_addresses_match_only_themselves() {
        let t = trust(&["127.0.0.1", "::1"]);
        assert!(t.trusts(ip("127.0.0.1")));
        assert!(t.trusts(ip("::1")));
        assert!(!t.trusts(ip("127.0.0.2")));
        assert!(!t.trusts(ip("::2")));
        assert!(!t.trusts(ip("10.0.0.1")));
    }

    #[test]
    fn ipv4_networks() {
        let t = trust(&["10.0.0.0/8", "192.168.1.0/24"]);
        assert!(t.trusts(ip("10.255.3.4")));
        assert!(t.trusts(ip("192.168.1.77")));
        assert!(!t.trusts(ip("192.168.2.1")));
        assert!(!t.trusts(ip("11.0.0.1")));
        let all = trust(&["0.0.0.0/0"]);
        assert!(all.trusts(ip("203.0.113.7")));
        assert!(!all.trusts(ip("2001:db8::1")), "an IPv4 network holds no IPv6 address");
    }

    #[test]
    fn ipv6_networks() {
        let t = trust(&["2001:db8::/32", "fd00::/8"]);
        assert!(t.trusts(ip("2001:db8:1234::1")));
        assert!(t.trusts(ip("fdab::9")));
        assert!(!t.trusts(ip("2001:db9::1")));
        assert!(!t.trusts(ip("10.0.0.1")));
        assert!(trust(&["::/0"]).trusts(ip("2001:db8::1")));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_entries() {
        let t = trust(&["127.0.0.1", "10.0.0.0/8"]);
        assert!(t.trusts(ip("::ffff:127.0.0.1")));
        assert!(t.trusts(ip("::ffff:10.1.2.3")));
        assert!(!t.trusts(ip("::ffff:11.1.2.3")));
        // ... and mapped entries match IPv4 peers.
        let mapped = trust(&["::ffff:10.0.0.0/104"]);
        assert!(mapped.trusts(ip("10.9.9.9")));
        assert!(mapped.trusts(ip("::ffff:10.9.9.9")));
        assert!(!mapped.trusts(ip("11.0.0.1")));
    }

    #[test]
    fn star_trusts_every_peer() {
        let t = trust(&["*"]);
        assert!(t.trusts(ip("203.0.113.7")));
        assert!(t.trusts(ip("2001:db8::1")));
    }

    #[test]
    fn an_empty_list_trusts_no_ip_peer() {
        let t = trust(&[]);
        assert!(!t.trusts(ip("127.0.0.1")));
    }

    #[test]
    fn bad_entries_are_reported() {
        assert_eq!(
            ProxyTrust::parse(&["10.0.0.0/33"]).unwrap_err(),
            "'10.0.0.0/33': the prefix length must be 0 to 32"
        );
        assert_eq!(
            ProxyTrust::parse(&["localhost"]).unwrap_err(),
            "'localhost' is not an IP address or network"
        );
        assert!(ProxyTrust::parse(&["::1/129"]).is_err());
        assert!(ProxyTrust::parse(&["10.0.0.0/x"]).is_err());
    }
}
