//! Proxy headers (`--proxy-headers`, `--forwarded-allow-ips`): the client address and scheme a
//! trusted reverse proxy reports, resolved once per request before the app is called, for
//! every interface. See `docs/proxies.md` for the rules as users read them.
//!
//! - Only a request whose direct peer is trusted ([`ProxyTrust`]; a Unix-socket peer always
//!   is) is looked at; any other request keeps its peer and scheme whatever it carries.
//! - Client: `X-Forwarded-For` (every line, comma-separated entries), walked from the right
//!   ([`walk`]). Scheme: the first entry of `X-Forwarded-Proto` when it is `http`, `https`,
//!   `ws` or `wss` (any case); anything else is ignored.
//! - `Forwarded` (RFC 7239) is read only when the request has neither `X-Forwarded-For` nor
//!   `X-Forwarded-Proto`: then its elements' `for=` are walked the same way, and the scheme is
//!   the `proto=` of the first element that has one.
//!
//! The common case costs a few comparisons and map lookups, and nothing is allocated: the
//! result is a small `Copy` value carried by the request.

mod node;
mod rfc7239;
mod trust;
mod walk;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::header::{GetAll, HeaderMap, HeaderName, FORWARDED};
use http::HeaderValue;

use self::node::Node;
pub(crate) use self::trust::ProxyTrust;
use self::walk::Walk;
use crate::net::ConnInfo;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// What a trusted proxy said about one request; empty (the default) when nothing applies.
/// Interfaces read the client and scheme through it, so they all report the same thing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Forwarded {
    /// The client the proxy named. Its port is not known: interfaces report 0.
    pub(crate) client: Option<IpAddr>,
    /// The scheme the client used: `true` for `https`/`wss`, `false` for `http`/`ws`.
    pub(crate) secure: Option<bool>,
}

impl Forwarded {
    /// Whether a proxy header changed the client or the scheme.
    pub(crate) fn applied(&self) -> bool {
        self.client.is_some() || self.secure.is_some()
    }

    /// The client's socket address: the forwarded one with port 0, else the peer's (`None`
    /// for an unnamed Unix-socket peer).
    pub(crate) fn client_addr(&self, conn: &ConnInfo) -> Option<SocketAddr> {
        match self.client {
            Some(ip) => Some(SocketAddr::new(ip, 0)),
            None => conn.peer_addr,
        }
    }

    /// The client's address without port (the access log's `addr`).
    pub(crate) fn client_ip<'c>(&self, conn: &'c ConnInfo) -> Cow<'c, str> {
        match self.client {
            Some(ip) => Cow::Owned(ip.to_string()),
            None => Cow::Borrowed(&conn.client_ip),
        }
    }

    /// The client as `host:port` (IPv6 in brackets), the forwarded one with port 0.
    pub(crate) fn client_name<'c>(&self, conn: &'c ConnInfo) -> Cow<'c, str> {
        match self.client {
            Some(ip) => Cow::Owned(SocketAddr::new(ip, 0).to_string()),
            None => Cow::Borrowed(&conn.client),
        }
    }

    /// `"https"` or `"http"`: the forwarded scheme, else the connection's (the interfaces turn
    /// it into `wss`/`ws` for a WebSocket).
    pub(crate) fn scheme(&self, conn: &ConnInfo) -> &'static str {
        match self.secure {
            Some(true) => "https",
            Some(false) => "http",
            None => conn.scheme,
        }
    }
}

/// The proxy headers of one request: `trust` is `None` when `--no-proxy-headers`.
pub(crate) fn for_request(trust: Option<&ProxyTrust>, conn: &ConnInfo, headers: &HeaderMap) -> Forwarded {
    match trust {
        // Only TCP peers have an address; a Unix-socket peer is local, hence trusted.
        Some(trust) => resolve(trust, conn.peer_addr.map(|a| a.ip()), headers),
        None => Forwarded::default(),
    }
}

/// [`for_request`] given the peer's address (`None`: a Unix-socket peer).
pub(crate) fn resolve(trust: &ProxyTrust, peer: Option<IpAddr>, headers: &HeaderMap) -> Forwarded {
    if peer.is_some_and(|ip| !trust.trusts(ip)) {
        return Forwarded::default();
    }
    match carried(headers) {
        Carried::XForwarded => Forwarded {
            client: x_forwarded_for(trust, headers.get_all(&X_FORWARDED_FOR)),
            secure: x_forwarded_proto(headers.get_all(&X_FORWARDED_PROTO)),
        },
        Carried::Forwarded => forwarded(trust, headers.get_all(FORWARDED)),
        Carried::None => Forwarded::default(),
    }
}

/// Which kind of proxy header a request carries.
enum Carried {
    /// `X-Forwarded-For` or `X-Forwarded-Proto` (these win over `Forwarded`).
    XForwarded,
    /// `Forwarded` only.
    Forwarded,
    None,
}

/// One pass over the request's header names: cheaper than hashing three names that are
/// almost always absent (a request has a handful of headers; a name comparison fails on its
/// length or first bytes).
fn carried(headers: &HeaderMap) -> Carried {
    let mut found = Carried::None;
    for name in headers.keys() {
        if name == X_FORWARDED_FOR || name == X_FORWARDED_PROTO {
            return Carried::XForwarded;
        }
        if name == FORWARDED {
            found = Carried::Forwarded;
        }
    }
    found
}

fn x_forwarded_for(trust: &ProxyTrust, lines: GetAll<'_, HeaderValue>) -> Option<IpAddr> {
    let mut walk = Walk::new(trust);
    for entry in lines.iter().flat_map(|line| line.as_bytes().split(|b| *b == b',')) {
        let entry = entry.trim_ascii();
        // Empty list elements are no hop (RFC 9110 section 5.6.1).
        if !entry.is_empty() {
            walk.push(node::parse(entry));
        }
    }
    walk.client()
}

fn x_forwarded_proto(lines: GetAll<'_, HeaderValue>) -> Option<bool> {
    let first = lines
        .iter()
        .flat_map(|line| line.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .find(|entry| !entry.is_empty())?;
    secure(first)
}

fn forwarded(trust: &ProxyTrust, lines: GetAll<'_, HeaderValue>) -> Forwarded {
    let mut walk = Walk::new(trust);
    let mut proto = None;
    for element in lines.iter().flat_map(|line| rfc7239::elements(line.as_bytes())) {
        walk.push(element.node.map_or(Node::Unknown, node::parse));
        if proto.is_none() {
            proto = element.proto;
        }
    }
    Forwarded {
        client: walk.client(),
        secure: proto.and_then(secure),
    }
}

/// Whether a scheme name means TLS; `None` for a scheme other than `http`, `https`, `ws`, `wss`.
fn secure(scheme: &[u8]) -> Option<bool> {
    let is = |name: &[u8]| scheme.eq_ignore_ascii_case(name);
    if is(b"https") || is(b"wss") {
        Some(true)
    } else if is(b"http") || is(b"ws") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
