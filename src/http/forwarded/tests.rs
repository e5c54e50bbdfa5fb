//! The proxy-header rules on whole requests: which peer is listened to, the client and scheme
//! a set of header lines resolve to, and which header wins.

use std::net::IpAddr;

use http::header::HeaderMap;
use http::HeaderValue;

use super::{resolve, Forwarded, ProxyTrust};

/// The default `--forwarded-allow-ips`.
const LOOPBACK: &[&str] = &["127.0.0.1", "::1"];

fn trust(entries: &[&str]) -> ProxyTrust {
    ProxyTrust::parse(entries).unwrap()
}

fn headers(lines: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in lines {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// (client, scheme) for a request from `peer` (`None`: a Unix socket) carrying `lines`.
fn seen(trusted: &[&str], peer: Option<&str>, lines: &[(&'static str, &str)]) -> (Option<String>, Option<bool>) {
    let peer = peer.map(|p| p.parse::<IpAddr>().unwrap());
    let f = resolve(&trust(trusted), peer, &headers(lines));
    (f.client.map(|ip| ip.to_string()), f.secure)
}

fn client(trusted: &[&str], peer: &str, xff: &str) -> Option<String> {
    seen(trusted, Some(peer), &[("x-forwarded-for", xff)]).0
}

#[test]
fn nothing_to_apply_without_headers() {
    assert_eq!(
        resolve(&trust(LOOPBACK), Some("127.0.0.1".parse().unwrap()), &HeaderMap::new()),
        Forwarded::default()
    );
    assert!(!Forwarded::default().applied());
}

#[test]
fn a_trusted_peer_gives_client_and_scheme() {
    let got = seen(
        LOOPBACK,
        Some("127.0.0.1"),
        &[("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")],
    );
    assert_eq!(got, (Some("203.0.113.7".into()), Some(true)));
    assert_eq!(client(LOOPBACK, "::1", "2001:db8::7").as_deref(), Some("2001:db8::7"));
}

#[test]
fn an_untrusted_peer_is_never_listened_to() {
    let lines = [("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")];
    assert_eq!(seen(LOOPBACK, Some("192.0.2.1"), &lines), (None, None));
    assert_eq!(seen(&[], Some("127.0.0.1"), &lines), (None, None));
    let rfc = [("forwarded", "for=203.0.113.7;proto=https")];
    assert_eq!(seen(LOOPBACK, Some("192.0.2.1"), &rfc), (None, None));
}

#[test]
fn a_unix_socket_peer_is_always_trusted() {
    let lines = [("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")];
    assert_eq!(seen(&[], None, &lines), (Some("203.0.113.7".into()), Some(true)));
}

#[test]
fn the_chain_is_walked_from_the_right() {
    let proxies = &["127.0.0.1", "10.0.0.0/8"];
    assert_eq!(
        client(proxies, "127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.1.1, 127.0.0.1").as_deref(),
        Some("203.0.113.7")
    );
    // The entry the proxy added (the rightmost) is untrusted: it is the client, whatever the
    // client itself put before it.
    assert_eq!(
        client(LOOPBACK, "127.0.0.1", "127.0.0.1, 198.51.100.1").as_deref(),
        Some("198.51.100.1")
    );
    // Every hop trusted: the leftmost.
    assert_eq!(
        client(proxies, "127.0.0.1", "10.0.0.9, 10.0.0.2").as_deref(),
        Some("10.0.0.9")
    );
}

#[test]
fn header_lines_form_one_list() {
    let got = seen(
        &["127.0.0.1", "10.0.0.0/8"],
        Some("127.0.0.1"),
        &[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
        ],
    );
    assert_eq!(got.0.as_deref(), Some("203.0.113.7"));
}

#[test]
fn networks_and_star() {
    assert_eq!(
        client(&["10.0.0.0/8"], "10.200.0.1", "203.0.113.7").as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(client(&["10.0.0.0/8"], "11.0.0.1", "203.0.113.7"), None);
    assert_eq!(
        client(
            &["2001:db8::/32"],
            "2001:db8:ff::1",
            "2001:db8::1, 203.0.113.7, 2001:db8:1::1"
        )
        .as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(client(&["2001:db8::/32"], "2001:db9::1", "203.0.113.7"), None);
    // `*` trusts every peer and every hop: the leftmost entry wins.
    assert_eq!(
        client(&["*"], "192.0.2.1", "198.51.100.1, 203.0.113.7").as_deref(),
        Some("198.51.100.1")
    );
}

#[test]
fn an_ipv4_mapped_peer_is_its_ipv4_address() {
    assert_eq!(
        client(LOOPBACK, "::ffff:127.0.0.1", "203.0.113.7").as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(client(LOOPBACK, "::ffff:192.0.2.1", "203.0.113.7"), None);
    // A mapped hop is matched the same way.
    assert_eq!(
        client(LOOPBACK, "127.0.0.1", "203.0.113.7, ::ffff:127.0.0.1").as_deref(),
        Some("203.0.113.7")
    );
}

#[test]
fn whitespace_and_empty_entries() {
    assert_eq!(
        client(LOOPBACK, "127.0.0.1", " \t203.0.113.7 ,\t127.0.0.1\t").as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(
        client(LOOPBACK, "127.0.0.1", ",203.0.113.7,, ,127.0.0.1,").as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(client(LOOPBACK, "127.0.0.1", " , ,"), None);
    assert_eq!(client(LOOPBACK, "127.0.0.1", ""), None);
}

#[test]
fn ports_in_entries_are_dropped() {
    assert_eq!(
        client(LOOPBACK, "127.0.0.1", "1.2.3.4:5678").as_deref(),
        Some("1.2.3.4")
    );
    assert_eq!(
        client(
            &["127.0.0.1", "2001:db8::/32"],
            "127.0.0.1",
            "203.0.113.7, [2001:db8::1]:80"
        )
        .as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(client(&[], "127.0.0.1", "[::1]:80"), None, "an untrusted peer");
    assert_eq!(client(&["*"], "127.0.0.1", "[::1]:80").as_deref(), Some("::1"));
}

#[test]
fn a_malformed_entry_never_lets_what_is_left_of_it_through() {
    let proxies = &["127.0.0.1", "10.0.0.0/8"];
    // Right of it: a trusted proxy, which is as far as can be checked.
    assert_eq!(
        client(proxies, "127.0.0.1", "203.0.113.7, evil, 10.0.0.2").as_deref(),
        Some("10.0.0.2")
    );
    // The rightmost entry: no client at all (the peer stays).
    for bad in [
        "203.0.113.7, unknown",
        "203.0.113.7, 10.0.0.1:99999",
        "203.0.113.7, \"10.0.0.1\"",
        "_hidden",
    ] {
        assert_eq!(client(proxies, "127.0.0.1", bad), None, "{bad}");
    }
    // An untrusted address right of it is found first.
    assert_eq!(
        client(proxies, "127.0.0.1", "junk, 203.0.113.7").as_deref(),
        Some("203.0.113.7")
    );
}

#[test]
fn x_forwarded_proto() {
    let scheme = |value: &str| seen(LOOPBACK, Some("127.0.0.1"), &[("x-forwarded-proto", value)]).1;
    assert_eq!(scheme("https"), Some(true));
    assert_eq!(scheme("HTTPS"), Some(true));
    assert_eq!(scheme("wss"), Some(true));
    assert_eq!(scheme("http"), Some(false));
    assert_eq!(scheme("Ws"), Some(false));
    assert_eq!(scheme(" https , http"), Some(true), "the first value of a list");
    assert_eq!(scheme(", https"), Some(true), "empty elements skipped");
    assert_eq!(scheme("gopher"), None);
    assert_eq!(scheme("gopher, https"), None, "only the first value counts");
    assert_eq!(scheme("https:"), None);
    let lines = [("x-forwarded-proto", "http"), ("x-forwarded-proto", "https")];
    assert_eq!(seen(LOOPBACK, Some("127.0.0.1"), &lines).1, Some(false));
}

#[test]
fn forwarded_header() {
    let rfc = |value: &str| seen(LOOPBACK, Some("127.0.0.1"), &[("forwarded", value)]);
    assert_eq!(
        rfc("for=203.0.113.7;proto=https"),
        (Some("203.0.113.7".into()), Some(true))
    );
    assert_eq!(
        rfc(r#"for="[2001:db8::1]:4711";proto=http, for=127.0.0.1"#),
        (Some("2001:db8::1".into()), Some(false))
    );
    assert_eq!(rfc(r#"for="203.0.113.7:8080""#).0.as_deref(), Some("203.0.113.7"));
    assert_eq!(rfc(r#"For="_gazonk""#), (None, None), "obfuscated: no client");
    assert_eq!(rfc("for=unknown;proto=https"), (None, Some(true)));
    // Walked from the right like X-Forwarded-For; the first `proto` counts.
    assert_eq!(
        rfc("for=198.51.100.1;proto=https, for=203.0.113.7;proto=http, for=127.0.0.1;proto=http"),
        (Some("203.0.113.7".into()), Some(true))
    );
    assert_eq!(
        rfc("for=203.0.113.7, for=unknown, for=127.0.0.1").0.as_deref(),
        Some("127.0.0.1"),
        "an unknown hop stops the walk at the nearest address"
    );
    // An element without `for` is an unknown hop.
    assert_eq!(rfc("for=203.0.113.7, proto=https"), (None, Some(true)));
    // Unquoted IPv6 breaks the syntax: that element is an unknown hop.
    assert_eq!(rfc("for=203.0.113.7, for=[2001:db8::1]"), (None, None));
    assert_eq!(
        rfc("for=192.0.2.60;proto=http;by=203.0.113.43").0.as_deref(),
        Some("192.0.2.60")
    );
    let lines = [("forwarded", "for=198.51.100.1"), ("forwarded", "for=203.0.113.7")];
    assert_eq!(
        seen(LOOPBACK, Some("127.0.0.1"), &lines).0.as_deref(),
        Some("203.0.113.7")
    );
}

#[test]
fn x_forwarded_headers_take_precedence_over_forwarded() {
    let both = [
        ("forwarded", "for=198.51.100.1;proto=https"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    assert_eq!(
        seen(LOOPBACK, Some("127.0.0.1"), &both),
        (Some("203.0.113.7".into()), None)
    );
    // Either X-Forwarded-* header alone puts `Forwarded` aside entirely.
    let proto_only = [("forwarded", "for=198.51.100.1"), ("x-forwarded-proto", "https")];
    assert_eq!(seen(LOOPBACK, Some("127.0.0.1"), &proto_only), (None, Some(true)));
}

#[test]
fn what_interfaces_report() {
    use crate::net::ConnInfo;
    let conn = ConnInfo {
        client: "127.0.0.1:50000".into(),
        client_ip: "127.0.0.1".into(),
        server: "127.0.0.1:8000".into(),
        scheme: "http",
        peer_addr: Some("127.0.0.1:50000".parse().unwrap()),
        local_addr: None,
    };
    let none = Forwarded::default();
    assert_eq!(none.client_addr(&conn), conn.peer_addr);
    assert_eq!(none.client_ip(&conn), "127.0.0.1");
    assert_eq!(none.client_name(&conn), "127.0.0.1:50000");
    assert_eq!(none.scheme(&conn), "http");
    let v6 = Forwarded {
        client: Some("2001:db8::1".parse().unwrap()),
        secure: Some(true),
    };
    assert!(v6.applied());
    assert_eq!(v6.client_addr(&conn), Some("[2001:db8::1]:0".parse().unwrap()));
    assert_eq!(v6.client_ip(&conn), "2001:db8::1");
    assert_eq!(v6.client_name(&conn), "[2001:db8::1]:0");
    assert_eq!(v6.scheme(&conn), "https");
    let scheme_only = Forwarded {
        client: None,
        secure: Some(false),
    };
    assert_eq!(scheme_only.client_addr(&conn), conn.peer_addr);
    assert_eq!(
        scheme_only.scheme(&ConnInfo {
            scheme: "https",
            ..conn
        }),
        "http"
    );
}
