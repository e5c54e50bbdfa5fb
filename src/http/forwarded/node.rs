//! One hop of a forwarding chain: an `X-Forwarded-For` entry or the value of a `Forwarded`
//! `for=` parameter (RFC 7239 section 6), reduced to the address it names, if any.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a proxy wrote about the peer it received the request from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Node {
    /// An address (its port, if written, dropped).
    Ip(IpAddr),
    /// Anything else: `unknown`, an obfuscated name (`_hidden`), or a value that does not parse.
    /// A walk never reads past it (see [`super::walk`]).
    Unknown,
}

/// Reads one node, already trimmed and unquoted. Accepted forms:
/// `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080` and `2001:db8::1`
/// (the bare IPv6 form is what `X-Forwarded-For` carries; RFC 7239 asks for brackets but the
/// address is just as unambiguous). A port is 1 to 5 digits up to 65535, or an RFC 7239
/// obfuscated port (`_` then letters, digits, `.`, `_`, `-`). Anything else is [`Node::Unknown`].
pub(super) fn parse(raw: &[u8]) -> Node {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Node::Unknown;
    };
    parse_str(text).map_or(Node::Unknown, Node::Ip)
}

fn parse_str(text: &str) -> Option<IpAddr> {
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = addr.parse().ok()?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(is_port) {
            return None;
        }
        return Some(IpAddr::V6(ip));
    }
    match text.split_once(':') {
        // One colon: IPv4 with a port. More: a bare IPv6 address.
        Some((addr, port)) if !port.contains(':') => {
            let ip: Ipv4Addr = addr.parse().ok()?;
            is_port(port).then_some(IpAddr::V4(ip))
        }
        _ => text.parse().ok(),
    }
}

fn is_port(port: &str) -> bool {
    if let Some(name) = port.strip_prefix('_') {
        return !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    }
    (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Node {
        Node::Ip(s.parse().unwrap())
    }

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(parse(b"203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(parse(b"203.0.113.7:5678"), ip("203.0.113.7"));
        assert_eq!(parse(b"[::1]:80"), ip("::1"));
        assert_eq!(parse(b"[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(parse(b"2001:db8::1"), ip("2001:db8::1"));
        assert_eq!(parse(b"::ffff:192.0.2.1"), ip("::ffff:192.0.2.1"));
        assert_eq!(parse(b"[2001:db8::1]:_port-1"), ip("2001:db8::1"));
        assert_eq!(parse(b"192.0.2.1:65535"), ip("192.0.2.1"));
    }

    #[test]
    fn everything_else_is_unknown() {
        for bad in [
            &b""[..],
            b"unknown",
            b"_hidden",
            b"localhost",
            b"example.com:80",
            b"203.0.113.7:",
            b"203.0.113.7:65536",
            b"203.0.113.7:123456",
            b"203.0.113.7:80x",
            b"203.0.113.7:_",
            b"[::1",
            b"[::1]80",
            b"[::1]:",
            b"[203.0.113.7]",
            b"2001:db8::1:80:x",
            b"\"203.0.113.7\"",
            b"203.0.113.7 ",
            b"203.0.113.999",
            b"fe80::1%eth0",
            b"1.2.3.4\xff",
        ] {
            assert_eq!(parse(bad), Node::Unknown, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
