//! What `start_response` is given, validated: the status line and the header list of PEP 3333
//! (native strings, Latin-1), turned into the response head hyper sends.

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use http::StatusCode;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::error::type_name;
use crate::http::body::ResponseBody;
use crate::http::response::build;

/// Response fields the application may not set: the engine owns the connection's framing.
const HOP_BY_HOP: [&str; 6] = [
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// What `start_response` was given, validated.
pub(super) struct Head {
    pub(super) status: StatusCode,
    /// The application's reason phrase when it is not the standard one.
    reason: Option<hyper::ext::ReasonPhrase>,
    pub(super) headers: HeaderMap,
    pub(super) content_length: Option<u64>,
}

/// The status line, e.g. `"200 OK"`: a 3-digit code, then a space and a reason phrase.
pub(super) fn parse_status(status: &str) -> Result<(StatusCode, Option<&str>), String> {
    let bad = || format!("invalid status {status:?}: expected '<3-digit code> <reason>', e.g. '200 OK'");
    let bytes = status.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) || bytes.get(3).is_some_and(|&b| b != b' ') {
        return Err(bad());
    }
    let code = StatusCode::from_bytes(&bytes[..3]).map_err(|_| bad())?;
    let reason = status.get(4..).filter(|r| !r.is_empty());
    Ok((code, reason))
}

/// A native string as the bytes it stands for (code points 0-255, PEP 3333 "latin-1").
fn latin1_bytes<'a>(s: &'a Bound<'_, PyString>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    let text = s.to_str()?;
    if text.is_ascii() {
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    text.chars()
        .map(|c| u8::try_from(u32::from(c)))
        .collect::<Result<Vec<u8>, _>>()
        .map(Cow::Owned)
        .map_err(|_| {
            PyValueError::new_err(format!(
                "start_response(): {what} {text:?} has characters above U+00FF; encode the text (e.g. as UTF-8) and decode it as latin-1"
            ))
        })
}

fn header_str<'a, 'py>(item: &'a Bound<'py, PyAny>, what: &str) -> PyResult<&'a Bound<'py, PyString>> {
    item.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "start_response(): header {what}s must be str, got {}: {}",
            type_name(item),
            item.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        ))
    })
}

fn not_a_list(headers: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "start_response(): headers must be a list of (name, value) tuples, got {}",
        type_name(headers)
    ))
}

/// One header: a `(name, value)` tuple as PEP 3333 says, or a 2-item list as apps also write.
fn header_pair<'py>(item: &Bound<'py, PyAny>) -> Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (name, value) = if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() != 2 {
            return None;
        }
        (t.get_item(0), t.get_item(1))
    } else {
        let l = item.cast::<PyList>().ok().filter(|l| l.len() == 2)?;
        (l.get_item(0), l.get_item(1))
    };
    Some((name.ok()?, value.ok()?))
}

/// The response headers: a list of `(name, value)` tuples (or 2-item lists) of `str`.
pub(super) fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<(HeaderMap, Option<u64>)> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = headers.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = headers.cast::<PyTuple>() {
        t.iter().collect()
    } else if headers.is_instance_of::<PyString>()
        || headers.is_instance_of::<PyBytes>()
        || headers.is_instance_of::<pyo3::types::PyDict>()
    {
        return Err(not_a_list(headers));
    } else {
        headers
            .try_iter()
            .map_err(|_| not_a_list(headers))?
            .collect::<PyResult<_>>()?
    };
    let mut map = HeaderMap::with_capacity(items.len());
    let mut content_length = None;
    for item in &items {
        let (name, value) = header_pair(item).ok_or_else(|| {
            PyTypeError::new_err(format!(
                "start_response(): each header must be a (name, value) tuple, got {}",
                item.repr().map_or_else(|_| "?".into(), |r| r.to_string())
            ))
        })?;
        let name = header_str(&name, "name")?;
        let value = header_str(&value, "value")?;
        let name_b = latin1_bytes(name, "header name")?;
        let hname = HeaderName::from_bytes(&name_b)
            .map_err(|_| PyValueError::new_err(format!("start_response(): invalid header name {name}")))?;
        let value_b = latin1_bytes(value, "header value")?;
        let hvalue = HeaderValue::from_bytes(&value_b).map_err(|_| {
            PyValueError::new_err(format!(
                "start_response(): invalid value for header {hname}: {} (control characters such as CR and LF are not allowed)",
                value.repr().map_or_else(|_| "?".into(), |r| r.to_string())
            ))
        })?;
        if HOP_BY_HOP.contains(&hname.as_str()) {
            continue;
        }
        if hname == CONTENT_LENGTH {
            let n = hvalue
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "start_response(): invalid Content-Length {value}: expected a number of bytes"
                    ))
                })?;
            if content_length.is_some_and(|c| c != n) {
                return Err(PyValueError::new_err(
                    "start_response(): conflicting Content-Length headers",
                ));
            }
            content_length = Some(n);
            map.insert(CONTENT_LENGTH, hvalue);
            continue;
        }
        map.append(hname, hvalue);
    }
    Ok((map, content_length))
}

impl Head {
    pub(super) fn parse(status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<Self> {
        let status_s = status.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "start_response(): status must be a str such as '200 OK', got {}",
                type_name(status)
            ))
        })?;
        let text = status_s.to_str()?;
        let (code, reason) = parse_status(text).map_err(|e| PyValueError::new_err(format!("start_response(): {e}")))?;
        let reason = match reason {
            Some(r) if Some(r) != code.canonical_reason() => Some(
                hyper::ext::ReasonPhrase::try_from(r.as_bytes().to_vec())
                    .map_err(|_| PyValueError::new_err(format!("start_response(): invalid reason phrase {r:?}")))?,
            ),
            _ => None,
        };
        let (headers, content_length) = parse_headers(headers)?;
        Ok(Self {
            status: code,
            reason,
            headers,
            content_length,
        })
    }

    pub(super) fn response(&mut self, body: ResponseBody) -> http::Response<ResponseBody> {
        let mut resp = build(self.status, std::mem::take(&mut self.headers), body);
        if let Some(r) = self.reason.take() {
            resp.extensions_mut().insert(r);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("200 OK").unwrap(), (StatusCode::OK, Some("OK")));
        assert_eq!(
            parse_status("404 Not Found").unwrap(),
            (StatusCode::NOT_FOUND, Some("Not Found"))
        );
        assert_eq!(parse_status("599 Custom").unwrap().0.as_u16(), 599);
        assert_eq!(parse_status("204").unwrap(), (StatusCode::NO_CONTENT, None));
        for bad in ["", "20 OK", "2000 OK", "abc OK", "200-OK", "099 Low"] {
            assert!(parse_status(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn headers_are_validated_and_framing_headers_dropped() {
        Python::attach(|py| {
            let ok = PyList::new(
                py,
                [
                    ("Content-Type", "text/plain"),
                    ("X-Caf\u{e9}", "ok"),
                    ("Content-Length", "12"),
                    ("Transfer-Encoding", "chunked"),
                    ("Set-Cookie", "a=1"),
                    ("Set-Cookie", "b=2"),
                    ("X-Latin", "caf\u{e9}"),
                ],
            )
            .unwrap();
            let err = parse_headers(ok.as_any()).unwrap_err();
            assert!(err.to_string().contains("invalid header name"), "{err}");

            let ok = PyList::new(
                py,
                [
                    ("Content-Type", "text/plain"),
                    ("Content-Length", "12"),
                    ("Transfer-Encoding", "chunked"),
                    ("Set-Cookie", "a=1"),
                    ("Set-Cookie", "b=2"),
                    ("X-Latin", "caf\u{e9}"),
                ],
            )
            .unwrap();
            let (map, cl) = parse_headers(ok.as_any()).unwrap();
            assert_eq!(cl, Some(12));
            assert!(!map.contains_key("transfer-encoding"));
            assert_eq!(map.get_all("set-cookie").iter().count(), 2);
            assert_eq!(map["x-latin"].as_bytes(), b"caf\xe9");

            let lists = py
                .eval(
                    pyo3::ffi::c_str!("[['X-A', '1'], ('X-A', '2'), ['Content-Type', 'text/plain']]"),
                    None,
                    None,
                )
                .unwrap();
            let (map, _) = parse_headers(&lists).unwrap();
            let all: Vec<_> = map.get_all("x-a").iter().collect();
            assert_eq!(all, ["1", "2"]);
            assert_eq!(map["content-type"], "text/plain");
            let gen = py
                .eval(pyo3::ffi::c_str!("(h for h in [('X-B', '1')])"), None, None)
                .unwrap();
            assert_eq!(parse_headers(&gen).unwrap().0["x-b"], "1");
            let bad = PyList::new(py, [["X", "1", "2"]]).unwrap();
            assert!(parse_headers(bad.as_any())
                .unwrap_err()
                .to_string()
                .contains("(name, value) tuple"));

            let bad = PyList::new(py, [("X", "a\r\nb")]).unwrap();
            assert!(parse_headers(bad.as_any())
                .unwrap_err()
                .to_string()
                .contains("control characters"));
            let bad = PyList::new(py, [("X", "\u{20ac}")]).unwrap();
            assert!(parse_headers(bad.as_any())
                .unwrap_err()
                .to_string()
                .contains("above U+00FF"));
            let bad = PyList::new(py, [(PyBytes::new(py, b"X"), "v")]).unwrap();
            assert!(parse_headers(bad.as_any())
                .unwrap_err()
                .to_string()
                .contains("must be str"));
            let bad = pyo3::types::PyDict::new(py);
            assert!(parse_headers(bad.as_any())
                .unwrap_err()
                .to_string()
                .contains("must be a list"));
            let bad = PyList::new(py, [("Content-Length", "lots")]).unwrap();
            assert!(parse_headers(bad.as_any())
                .unwrap_err()
                .to_string()
                .contains("Content-Length"));
        });
    }
}
