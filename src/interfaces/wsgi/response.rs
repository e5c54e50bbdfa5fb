//! `start_response`, the legacy `write()` callable, and the response state they share with the
//! code that iterates the application's result.
//!
//! Nothing reaches hyper until the first non-empty body chunk (PEP 3333): until then
//! `start_response` may be called again with `exc_info`. What happens at that first chunk
//! decides the response's shape:
//! - the complete body is known (a list of chunks, or a chunk that fills the Content-Length the
//!   application declared): one full response;
//! - otherwise a streamed body (chunked when there is no Content-Length) whose chunks go to
//!   hyper through a bounded channel as they are produced; when it is full the sending thread
//!   waits with the GIL released, so a fast producer never piles up memory.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use http::StatusCode;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use tokio::sync::mpsc;

use crate::bridge::lock;
use crate::error::{type_name, ClientDisconnected, WSGIProtocolError};
use crate::http::body::{abort_stream, Chunk, ResponseBody};
use crate::http::disconnect::Disconnect;
use crate::http::response::{build, internal_error, Responder, ResponsePlan};

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

enum Out {
    /// Nothing sent yet.
    Pending(Responder),
    Streaming {
        tx: mpsc::Sender<Chunk>,
        /// Bytes still allowed by the declared Content-Length.
        remaining: Option<u64>,
    },
    /// The whole response is out (or its Content-Length reached): later chunks are dropped.
    Done,
    /// The client went away.
    Gone,
}

struct State {
    head: Option<Head>,
    out: Out,
}

#[pyclass(frozen, freelist = 64, module = "granian._granian", name = "WSGIStartResponse")]
pub(crate) struct StartResponse {
    st: Mutex<State>,
    disconnect: Arc<Disconnect>,
    rt: tokio::runtime::Handle,
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
    fn parse(status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<Self> {
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

    fn response(&mut self, body: ResponseBody) -> http::Response<ResponseBody> {
        let mut resp = build(self.status, std::mem::take(&mut self.headers), body);
        if let Some(r) = self.reason.take() {
            resp.extensions_mut().insert(r);
        }
        resp
    }
}

/// How a pushed chunk went.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Keep producing.
    More,
    /// The response is complete (its Content-Length was reached): stop producing.
    Complete,
    /// The client went away.
    Gone,
}

impl StartResponse {
    pub(super) fn new(responder: Responder, disconnect: Arc<Disconnect>, rt: tokio::runtime::Handle) -> Self {
        Self {
            st: Mutex::new(State {
                head: None,
                out: Out::Pending(responder),
            }),
            disconnect,
            rt,
        }
    }

    pub(super) fn is_pending(&self) -> bool {
        matches!(lock(&self.st).out, Out::Pending(_))
    }

    pub(super) fn content_length(&self) -> Option<u64> {
        lock(&self.st).head.as_ref().and_then(|h| h.content_length)
    }

    fn no_start_response() -> PyErr {
        WSGIProtocolError::new_err("the application produced a body before calling start_response()")
    }

    /// Sends the response head (unless already out) with a body that is known completely.
    /// Returns false when the head was already sent (then `data` must be streamed instead).
    pub(super) fn send_full(&self, data: Bytes) -> PyResult<bool> {
        let mut st = lock(&self.st);
        let State { head, out } = &mut *st;
        let head = head.as_mut().ok_or_else(Self::no_start_response)?;
        match std::mem::replace(out, Out::Done) {
            Out::Pending(responder) => {
                let data = match head.content_length {
                    Some(cl) if (data.len() as u64) > cl => data.slice(..cl as usize),
                    _ => data,
                };
                let resp = head.response(ResponseBody::full(data));
                if !responder.send(ResponsePlan::Ready(resp)) {
                    *out = Out::Gone;
                }
                Ok(true)
            }
            other => {
                *out = other;
                Ok(false)
            }
        }
    }

    /// Sends a response whose body the engine produces itself (a file).
    pub(super) fn send_body(&self, body: ResponseBody) -> PyResult<()> {
        let mut st = lock(&self.st);
        let State { head, out } = &mut *st;
        let head = head.as_mut().ok_or_else(Self::no_start_response)?;
        if let Out::Pending(responder) = std::mem::replace(out, Out::Done) {
            head.headers.remove(CONTENT_LENGTH);
            if !responder.send(ResponsePlan::Ready(head.response(body))) {
                *out = Out::Gone;
            }
        }
        Ok(())
    }

    /// Hands one body chunk to hyper: the first non-empty one sends the head.
    pub(super) fn push(&self, py: Python<'_>, data: &[u8]) -> PyResult<Pushed> {
        if data.is_empty() {
            return Ok(Pushed::More);
        }
        let whole = {
            let st = lock(&self.st);
            let head = st.head.as_ref().ok_or_else(Self::no_start_response)?;
            match (&st.out, head.content_length) {
                (Out::Pending(_), Some(cl)) if data.len() as u64 >= cl => Some(cl as usize),
                _ => None,
            }
        };
        if let Some(cl) = whole {
            // The first chunk already holds the declared length: one full response.
            self.send_full(Bytes::copy_from_slice(&data[..cl]))?;
            return Ok(self.pushed_after_full());
        }
        let (tx, n, last) = {
            let mut st = lock(&self.st);
            let State { head, out } = &mut *st;
            let head = head.as_mut().ok_or_else(Self::no_start_response)?;
            if let Out::Pending(_) = out {
                if let Out::Pending(responder) = std::mem::replace(out, Out::Done) {
                    let (tx, body) = ResponseBody::stream(Some(Arc::clone(&self.disconnect)));
                    if !responder.send(ResponsePlan::Ready(head.response(body))) {
                        *out = Out::Gone;
                        return Ok(Pushed::Gone);
                    }
                    *out = Out::Streaming {
                        tx,
                        remaining: head.content_length,
                    };
                }
            }
            let (tx, n, last) = match out {
                Out::Streaming { tx, remaining } => {
                    let n = remaining.map_or(data.len(), |r| data.len().min(r as usize));
                    if let Some(r) = remaining {
                        *r -= n as u64;
                    }
                    (tx.clone(), n, *remaining == Some(0))
                }
                Out::Done => return Ok(Pushed::Complete),
                Out::Gone | Out::Pending(_) => return Ok(Pushed::Gone),
            };
            if last {
                // Dropping the stored sender ends the body once our clone is gone too.
                *out = Out::Done;
            }
            (tx, n, last)
        };
        let chunk = Bytes::copy_from_slice(&data[..n]);
        let sent = match tx.try_send(Ok(chunk)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(item)) => py.detach(|| tx.blocking_send(item)).is_ok(),
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        if !sent {
            lock(&self.st).out = Out::Gone;
            return Ok(Pushed::Gone);
        }
        Ok(if last { Pushed::Complete } else { Pushed::More })
    }

    fn pushed_after_full(&self) -> Pushed {
        match lock(&self.st).out {
            Out::Gone => Pushed::Gone,
            _ => Pushed::Complete,
        }
    }

    /// The application is done producing: sends a response still pending (with an empty body)
    /// and ends a streamed one.
    pub(super) fn finish(&self) -> PyResult<()> {
        if self.is_pending() {
            if lock(&self.st).head.is_none() {
                return Err(WSGIProtocolError::new_err(
                    "the application returned without calling start_response()",
                ));
            }
            self.send_full(Bytes::new())?;
            return Ok(());
        }
        let mut st = lock(&self.st);
        if let Out::Streaming { .. } = st.out {
            st.out = Out::Done;
        }
        Ok(())
    }

    /// The application failed: a 500 if nothing was sent yet, else the streamed response is
    /// aborted (the connection closes instead of ending the body as if it were complete).
    pub(super) fn fail(&self) {
        let mut st = lock(&self.st);
        match std::mem::replace(&mut st.out, Out::Done) {
            Out::Pending(responder) => {
                let _ = responder.send(ResponsePlan::Ready(internal_error()));
            }
            Out::Streaming { tx, .. } => abort_stream(tx, &self.rt, "the application raised while streaming"),
            Out::Done | Out::Gone => {}
        }
    }

    /// Whether the client is known to be gone.
    /// Whether the engine answered 400 because the request body was malformed.
    pub(super) fn body_malformed(&self) -> bool {
        self.disconnect.is_malformed()
    }

    pub(super) fn client_gone(&self) -> bool {
        self.disconnect.is_fired() || matches!(lock(&self.st).out, Out::Gone)
    }
}

fn exc_value<'py>(exc_info: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
    let info = exc_info.filter(|e| !e.is_none())?;
    let value = info.get_item(1).ok()?;
    (!value.is_none()).then_some(value)
}

#[pymethods]
impl StartResponse {
    /// `start_response(status, response_headers, exc_info=None) -> write`
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        match exc_value(exc_info) {
            Some(value) => {
                if !this.is_pending() {
                    // PEP 3333: too late to change the response; re-raise the original error.
                    return Err(PyErr::from_value(value));
                }
            }
            None => {
                if lock(&this.st).head.is_some() {
                    return Err(WSGIProtocolError::new_err(
                        "start_response() was already called; pass exc_info to replace the status and headers",
                    ));
                }
            }
        }
        let head = Head::parse(status, headers)?;
        lock(&this.st).head = Some(head);
        slf.getattr(intern!(slf.py(), "write"))
    }

    /// The legacy `write(data)` callable: sends `data` at once (after the head).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("write() takes bytes, got {}", type_name(data))))?;
        match self.push(py, data.as_bytes())? {
            Pushed::Gone => Err(ClientDisconnected::new_err("the client disconnected")),
            Pushed::More | Pushed::Complete => Ok(()),
        }
    }

    fn __repr__(&self) -> &'static str {
        "<WSGIStartResponse>"
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
