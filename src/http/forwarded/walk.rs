//! Picking the client out of a forwarding chain.
//!
//! Each proxy appends the peer it received the request from, so the chain reads, left to
//! right, from the client towards the server, and only the entries written by trusted proxies
//! can be believed: everything left of the first untrusted hop may have been made up by the
//! client. The rule, read from the right:
//!
//! - a trusted address is skipped (it is one of our proxies);
//! - the first untrusted address is the client;
//! - an entry that names no address (`unknown`, an obfuscated name, anything that does not
//!   parse) ends the walk: nothing left of it can be checked, so the client is the nearest
//!   address walked over, i.e. the trusted hop just right of it, or none at all (the direct
//!   peer stays) when it is the rightmost entry;
//! - when every entry is a trusted address, the leftmost one is the client.
//!
//! Headers are read left to right without collecting the entries: [`Walk`] keeps what the rule
//! gives for the entries pushed so far, which is all the next entry needs.

use std::net::IpAddr;

use super::node::Node;
use super::trust::ProxyTrust;

/// The rule applied to the entries pushed so far (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No entry yet.
    Empty,
    /// Only trusted addresses so far: the leftmost one.
    AllTrusted(IpAddr),
    /// The answer, whatever trusted entries follow.
    Found(IpAddr),
    /// The last entry named no address: the answer is the next entry if it is a trusted
    /// address, none if the chain ends here.
    AfterUnknown,
}

pub(super) struct Walk<'t> {
    trust: &'t ProxyTrust,
    state: State,
}

impl<'t> Walk<'t> {
    pub(super) fn new(trust: &'t ProxyTrust) -> Self {
        Self {
            trust,
            state: State::Empty,
        }
    }

    /// The next entry, to the right of those pushed before.
    pub(super) fn push(&mut self, node: Node) {
        self.state = match (node, self.state) {
            (Node::Unknown, _) => State::AfterUnknown,
            (Node::Ip(ip), _) if !self.trust.trusts(ip) => State::Found(ip),
            (Node::Ip(ip), State::Empty) => State::AllTrusted(ip),
            (Node::Ip(ip), State::AfterUnknown) => State::Found(ip),
            (Node::Ip(_), kept @ (State::AllTrusted(_) | State::Found(_))) => kept,
        };
    }

    /// The client the chain names, or `None` (keep the direct peer).
    pub(super) fn client(&self) -> Option<IpAddr> {
        match self.state {
            State::AllTrusted(ip) | State::Found(ip) => Some(ip),
            State::Empty | State::AfterUnknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk over `chain`, left to right, `?` standing for an entry naming no address.
    fn walk(trusted: &[&str], chain: &[&str]) -> Option<String> {
        let trust = ProxyTrust::parse(trusted).unwrap();
        let mut walk = Walk::new(&trust);
        for entry in chain {
            walk.push(match *entry {
                "?" => Node::Unknown,
                ip => Node::Ip(ip.parse().unwrap()),
            });
        }
        walk.client().map(|ip| ip.to_string())
    }

    const PROXIES: &[&str] = &["127.0.0.1", "10.0.0.0/8"];

    #[test]
    fn the_nearest_untrusted_address_reading_from_the_right() {
        let chain = ["198.51.100.1", "203.0.113.7", "10.0.0.2", "127.0.0.1"];
        assert_eq!(walk(PROXIES, &chain).as_deref(), Some("203.0.113.7"));
        assert_eq!(walk(PROXIES, &["203.0.113.7"]).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn an_untrusted_last_hop_is_the_client_whatever_comes_before() {
        let chain = ["10.0.0.1", "?", "198.51.100.1", "203.0.113.7"];
        assert_eq!(walk(PROXIES, &chain).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn all_trusted_gives_the_leftmost() {
        assert_eq!(
            walk(PROXIES, &["10.0.0.5", "10.0.0.2", "127.0.0.1"]).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            walk(&["*"], &["198.51.100.1", "203.0.113.7"]).as_deref(),
            Some("198.51.100.1")
        );
    }

    #[test]
    fn an_unknown_entry_stops_the_walk_at_the_nearest_address() {
        // Left of `?` may be anything a client sent: never believed.
        assert_eq!(
            walk(PROXIES, &["203.0.113.7", "?", "10.0.0.2"]).as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(
            walk(PROXIES, &["203.0.113.7", "?", "10.0.0.2", "10.0.0.3"]).as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(walk(PROXIES, &["203.0.113.7", "?"]), None);
        assert_eq!(walk(PROXIES, &["?"]), None);
        assert_eq!(walk(&["*"], &["198.51.100.1", "?"]), None);
        // An untrusted address right of it is found first.
        assert_eq!(
            walk(PROXIES, &["?", "203.0.113.7", "10.0.0.2"]).as_deref(),
            Some("203.0.113.7")
        );
    }

    #[test]
    fn no_entry_no_client() {
        assert_eq!(walk(PROXIES, &[]), None);
    }
}
