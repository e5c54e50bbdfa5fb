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
//!   waits with the GIL released, so a fast producer never piles up memory (for the write
//!   timeout at most: see `http::body::wait_for_room`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::mpsc;

use crate::bridge::{block_on_runtime, lock, Bridge};
use crate::error::{client_gone, misuse, type_name, Iface};
use crate::http::body::{abort_stream, wait_for_room, Chunk, ResponseBody};
use crate::http::body_failure::BodyFailure;
use crate::http::disconnect::Disconnect;
use crate::http::response::{internal_error, Responder, ResponsePlan};

use super::head::Head;
use super::rules::{start_call, within_length, StartCall};

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
    bridge: Arc<Bridge>,
    /// `--write-timeout`: the longest wait of a chunk for room (`wait_for_room`).
    write_timeout: Option<Duration>,
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
    pub(super) fn new(
        responder: Responder,
        disconnect: Arc<Disconnect>,
        rt: tokio::runtime::Handle,
        bridge: Arc<Bridge>,
        write_timeout: Option<Duration>,
    ) -> Self {
        Self {
            st: Mutex::new(State {
                head: None,
                out: Out::Pending(responder),
            }),
            disconnect,
            rt,
            bridge,
            write_timeout,
        }
    }

    pub(super) fn is_pending(&self) -> bool {
        matches!(lock(&self.st).out, Out::Pending(_))
    }

    pub(super) fn content_length(&self) -> Option<u64> {
        lock(&self.st).head.as_ref().and_then(|h| h.content_length)
    }

    fn no_start_response() -> PyErr {
        misuse(
            Iface::Wsgi,
            "the application produced a body before calling start_response()",
        )
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
                    let (n, left, last) = within_length(*remaining, data.len());
                    *remaining = left;
                    (tx.clone(), n, last)
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
            Err(mpsc::error::TrySendError::Full(item)) => {
                let disconnect = Arc::clone(&self.disconnect);
                let wait = wait_for_room(tx, item, self.write_timeout, disconnect, Arc::clone(&self.bridge));
                py.detach(|| block_on_runtime(&self.rt, wait)).unwrap_or(false)
            }
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
                return Err(misuse(
                    Iface::Wsgi,
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
    /// Why the engine refused the request body (malformed, too large, stalled), if it did.
    pub(super) fn body_refused(&self) -> Option<&'static str> {
        self.disconnect.refused().map(BodyFailure::describe)
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
        let exc = exc_value(exc_info);
        let head_set = lock(&this.st).head.is_some();
        match (start_call(head_set, !this.is_pending(), exc.is_some()), exc) {
            (StartCall::ReRaise, Some(value)) => return Err(PyErr::from_value(value)),
            (StartCall::AlreadyCalled, _) => {
                return Err(misuse(
                    Iface::Wsgi,
                    "start_response() was already called; pass exc_info to replace the status and headers",
                ))
            }
            _ => {}
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
            Pushed::Gone => Err(client_gone(Iface::Wsgi, "the client disconnected")),
            Pushed::More | Pushed::Complete => Ok(()),
        }
    }

    fn __repr__(&self) -> &'static str {
        "<WSGIStartResponse>"
    }
}
