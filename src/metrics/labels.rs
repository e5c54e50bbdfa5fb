//! Label values of the request series, as small integers on the hot path: the method
//! (OpenTelemetry's known methods, the rest `_OTHER`), the protocol version, and the kinds of
//! timeouts. Turned into text only when a snapshot is taken.

/// `http.request.method` values the conventions know; any other method is `_OTHER`.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

pub(crate) fn method_index(m: &http::Method) -> u8 {
    // `http::Method` compares its standard methods without looking at bytes.
    let known = [
        http::Method::GET,
        http::Method::HEAD,
        http::Method::POST,
        http::Method::PUT,
        http::Method::DELETE,
        http::Method::CONNECT,
        http::Method::OPTIONS,
        http::Method::TRACE,
        http::Method::PATCH,
    ];
    known.iter().position(|k| k == m).unwrap_or(known.len()) as u8
}

/// `network.protocol.version` values.
pub(crate) const VERSIONS: [&str; 4] = ["1.0", "1.1", "2", "3"];

pub(crate) fn version_index(v: http::Version) -> u8 {
    match v {
        http::Version::HTTP_10 | http::Version::HTTP_09 => 0,
        http::Version::HTTP_2 => 2,
        http::Version::HTTP_3 => 3,
        _ => 1,
    }
}

/// A timeout that fired, by the option that bounds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeoutKind {
    /// `--http1-header-read-timeout` (or the first-read bound of a fresh TLS connection).
    HeaderRead,
    /// `--keep-alive-timeout`: an idle connection closed.
    KeepAlive,
    /// `--body-read-timeout`: a request body stopped arriving (408).
    BodyRead,
    /// `--write-timeout`: the peer took no bytes of a response or WebSocket message.
    Write,
    /// `--graceful-timeout`: a connection still open at the end of a drain, cut.
    Graceful,
}

impl TimeoutKind {
    pub(crate) const COUNT: usize = 5;
    pub(crate) const NAMES: [&'static str; Self::COUNT] =
        ["header_read", "keep_alive", "body_read", "write", "graceful"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_have_their_own_label_and_the_rest_are_other() {
        for (i, name) in METHODS[..9].iter().enumerate() {
            let m = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_index(&m) as usize, i, "{name}");
        }
        let odd = http::Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(METHODS[method_index(&odd) as usize], "_OTHER");
    }

    #[test]
    fn versions_and_timeout_kinds_have_names() {
        assert_eq!(VERSIONS[version_index(http::Version::HTTP_11) as usize], "1.1");
        assert_eq!(VERSIONS[version_index(http::Version::HTTP_2) as usize], "2");
        assert_eq!(VERSIONS[version_index(http::Version::HTTP_10) as usize], "1.0");
        assert_eq!(TimeoutKind::NAMES[TimeoutKind::Write as usize], "write");
        assert_eq!(TimeoutKind::NAMES[TimeoutKind::Graceful as usize], "graceful");
    }
}
