//! Access-log facts gathered on the runtime thread; the line itself is rendered by the Python
//! `granian.access` logger (so user formats and handlers apply), only when it is enabled.
//!
//! Headers are copied only when the format reads them: Python parses the format once at startup
//! and names the request and response headers it needs ([`AccessLog::new`]); a format that
//! names none copies none. A picked value is a `HeaderValue` clone (a reference count on the
//! bytes hyper already holds), turned into text on the loop thread.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::bridge::Bridge;
use crate::http::forwarded::Forwarded;
use crate::net::ConnInfo;

/// The access log of one worker: which headers its lines read, parsed once.
#[derive(Debug, Default)]
pub(crate) struct AccessLog {
    request: Vec<HeaderName>,
    response: Vec<HeaderName>,
}

/// Values of a list of header names, in its order: `None` for a missing header.
pub(crate) type Picked = Vec<Option<HeaderValue>>;

/// The values of `names` in `headers`, one per name: `None` when the header is missing; a
/// repeated header's values joined with `, ` (as a field list, RFC 9110 §5.3). Nothing is
/// allocated when `names` is empty.
pub(crate) fn pick(headers: &HeaderMap, names: &[HeaderName]) -> Picked {
    names
        .iter()
        .map(|name| {
            let mut values = headers.get_all(name).iter();
            let first = values.next()?;
            let Some(second) = values.next() else {
                return Some(first.clone());
            };
            let mut joined = first.as_bytes().to_vec();
            for v in std::iter::once(second).chain(values) {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(v.as_bytes());
            }
            // Valid values joined by ", " stay valid; `ok()` is for the impossible case.
            HeaderValue::from_bytes(&joined).ok()
        })
        .collect()
}

impl AccessLog {
    /// `request` and `response`: the header names the format reads (any case). An invalid name
    /// is refused, naming it.
    pub(crate) fn new(request: &[String], response: &[String]) -> Result<Self, String> {
        let parse = |names: &[String]| {
            names
                .iter()
                .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("invalid header name {n:?}")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            request: parse(request)?,
            response: parse(response)?,
        })
    }

    /// The facts of a request. `addr` and `scheme` are the client's as a trusted proxy reported
    /// them, if one did.
    pub(crate) fn facts(
        &self,
        head: &http::request::Parts,
        conn: &Arc<ConnInfo>,
        forwarded: Forwarded,
        now: SystemTime,
    ) -> AccessFacts {
        AccessFacts {
            addr: forwarded.client_ip(conn).into_owned(),
            start: now.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            method: head.method.as_str().to_string(),
            path: head.uri.path().to_string(),
            query: head.uri.query().unwrap_or("").to_string(),
            scheme: forwarded.scheme(conn),
            protocol: protocol_name(head.version),
            request_headers: pick(&head.headers, &self.request),
            response_headers: Vec::new(),
        }
    }

    /// Records the response headers the format reads into `facts`.
    pub(crate) fn response(&self, facts: &mut AccessFacts, headers: &HeaderMap) {
        facts.response_headers = pick(headers, &self.response);
    }
}

pub(crate) struct AccessFacts {
    addr: String,
    start: f64,
    method: String,
    path: String,
    query: String,
    scheme: &'static str,
    protocol: &'static str,
    request_headers: Picked,
    response_headers: Picked,
}

pub(crate) fn protocol_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_10 => "HTTP/1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// The picked values as Python text (`None` for a missing header); bytes that are not UTF-8
/// become U+FFFD.
fn to_py<'py>(py: Python<'py>, picked: &Picked) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        picked
            .iter()
            .map(|v| v.as_ref().map(|v| String::from_utf8_lossy(v.as_bytes()))),
    )
}

impl AccessFacts {
    /// Queues the line: `body_bytes` is how much of the response body was handed to the
    /// connection.
    pub(crate) fn emit(self, bridge: &Bridge, status: u16, elapsed: Duration, body_bytes: u64) {
        let dt_ms = elapsed.as_secs_f64() * 1000.0;
        bridge.push(Box::new(move |py, ctx| {
            let Some(cb) = &ctx.on_access else { return };
            let res = (|| -> PyResult<()> {
                let request_headers = to_py(py, &self.request_headers)?;
                let response_headers = to_py(py, &self.response_headers)?;
                cb.call1(
                    py,
                    (
                        self.addr,
                        self.start,
                        dt_ms,
                        status,
                        self.method,
                        self.path,
                        self.query,
                        self.scheme,
                        self.protocol,
                        request_headers,
                        body_bytes,
                        response_headers,
                    ),
                )?;
                Ok(())
            })();
            if let Err(e) = res {
                e.print(py);
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<HeaderName> {
        list.iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap())
            .collect()
    }

    fn text(picked: &Picked) -> Vec<Option<&str>> {
        picked.iter().map(|v| v.as_ref().map(|v| v.to_str().unwrap())).collect()
    }

    #[test]
    fn picks_the_named_headers_in_order_joining_repeats() {
        let mut headers = HeaderMap::new();
        headers.append("user-agent", HeaderValue::from_static("curl/8"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append("x-a", HeaderValue::from_static("3"));
        headers.append("x-other", HeaderValue::from_static("not asked for"));
        let picked = pick(&headers, &names(&["x-a", "missing", "user-agent"]));
        assert_eq!(text(&picked), [Some("1, 2, 3"), None, Some("curl/8")]);
    }

    #[test]
    fn picks_nothing_without_names() {
        let mut headers = HeaderMap::new();
        headers.append("user-agent", HeaderValue::from_static("curl/8"));
        let picked = pick(&headers, &[]);
        assert!(picked.is_empty());
        assert_eq!(picked.capacity(), 0, "no allocation when the format reads no header");
    }

    #[test]
    fn header_names_are_matched_in_any_case_and_invalid_ones_refused() {
        let log = AccessLog::new(&["X-Request-ID".to_owned()], &["Content-Type".to_owned()]).unwrap();
        let mut req = HeaderMap::new();
        req.insert("x-request-id", HeaderValue::from_static("abc"));
        assert_eq!(text(&pick(&req, &log.request)), [Some("abc")]);
        let mut resp = HeaderMap::new();
        resp.insert("content-type", HeaderValue::from_static("text/plain"));
        assert_eq!(text(&pick(&resp, &log.response)), [Some("text/plain")]);

        let err = AccessLog::new(&["bad name".to_owned()], &[]).unwrap_err();
        assert_eq!(err, r#"invalid header name "bad name""#);
        assert!(AccessLog::new(&[], &["x:y".to_owned()]).is_err());
    }

    #[test]
    fn values_that_are_not_text_are_kept_as_bytes() {
        let mut headers = HeaderMap::new();
        headers.insert("x-bin", HeaderValue::from_bytes(b"caf\xe9 \"q\"").unwrap());
        let picked = pick(&headers, &names(&["x-bin"]));
        assert_eq!(picked[0].as_ref().unwrap().as_bytes(), b"caf\xe9 \"q\"");
    }
}
