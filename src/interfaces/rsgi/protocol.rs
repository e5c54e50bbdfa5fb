//! The RSGI HTTP protocol object (body reading, response methods, disconnect) and the stream
//! transport returned by `response_stream`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use tokio::sync::mpsc;

use super::body::{body_broken, RsgiBodyIter};
use crate::bridge::{lock, send_or_wait, Awaitable, Bridge};
use crate::error::{client_gone, misuse, Iface};
use crate::http::body::{abort_stream, wait_for_room, Chunk, RequestBody, ResponseBody};
use crate::http::body_failure::BodyFailure;
use crate::http::disconnect::Disconnect;
use crate::http::response::{build, Responder, ResponsePlan, ResponseSlot};
use crate::interfaces::py::body::{AsyncBody, Read};
use crate::interfaces::py::bytes::bytes_from_py as body_bytes;
use crate::interfaces::py::disconnect::wait_disconnect;
use crate::interfaces::py::headers::{headers_from_py, Items};
use crate::interfaces::py::status::status_from_u16 as status_code;

type StreamSlot = Arc<Mutex<Option<mpsc::Sender<Chunk>>>>;

#[pyclass(frozen, freelist = 128, module = "granian._granian", name = "RSGIHTTPProtocol")]
pub(crate) struct RsgiHttpProtocol {
    body: Arc<AsyncBody>,
    /// `await protocol()` or `async for` was used: the body is read once.
    consumed: AtomicBool,
    responder: ResponseSlot,
    stream: StreamSlot,
    disconnect: Arc<Disconnect>,
    rt: tokio::runtime::Handle,
    bridge: Arc<Bridge>,
    /// The request method (a HEAD response streams nothing: see `ResponseBody::stream_for`).
    method: http::Method,
    /// `--write-timeout`: the longest wait of a body chunk for room (`wait_for_room`).
    write_timeout: Option<Duration>,
}

/// The `headers` argument of a response method (`origin`, for errors): `str` pairs as lists or
/// tuples (bytes accepted too).
fn headers_arg(headers: Option<&Bound<'_, PyAny>>, origin: &str) -> PyResult<HeaderMap> {
    match headers {
        Some(h) => headers_from_py(h, Items::Text, origin),
        None => Ok(HeaderMap::new()),
    }
}

impl RsgiHttpProtocol {
    pub(super) fn new(
        body: RequestBody,
        responder: Responder,
        disconnect: Arc<Disconnect>,
        rt: tokio::runtime::Handle,
        bridge: Arc<Bridge>,
        method: http::Method,
        write_timeout: Option<Duration>,
    ) -> Self {
        Self {
            body: Arc::new(AsyncBody::new(body, rt.clone(), Arc::clone(&bridge))),
            consumed: AtomicBool::new(false),
            responder: ResponseSlot::new(responder),
            stream: Arc::new(Mutex::new(None)),
            disconnect,
            rt,
            bridge,
            method,
            write_timeout,
        }
    }

    fn consume(&self) -> PyResult<()> {
        if self.consumed.swap(true, Ordering::AcqRel) {
            return Err(misuse(Iface::Rsgi, "the request body was already consumed"));
        }
        Ok(())
    }

    fn respond_full(&self, origin: &str, status: u16, headers: Option<&Bound<'_, PyAny>>, body: Bytes) -> PyResult<()> {
        if !self.responder.is_open() {
            return Ok(());
        }
        let status = status_code(status)?;
        let headers = headers_arg(headers, origin)?;
        self.responder
            .respond(ResponsePlan::Ready(build(status, headers, ResponseBody::full(body))));
        Ok(())
    }
}

#[pymethods]
impl RsgiHttpProtocol {
    /// `await protocol()`: the whole request body.
    fn __call__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        self.consume()?;
        self.body.read(py, true, |py, read| match read {
            Read::Chunk { data, .. } => Ok(PyBytes::new(py, &data).into_any().unbind()),
            Read::End => Ok(PyBytes::new(py, b"").into_any().unbind()),
            Read::Broken(e) => Err(body_broken(&e)),
        })
    }

    /// `async for chunk in protocol`: the request body as it arrives.
    fn __aiter__(&self) -> PyResult<RsgiBodyIter> {
        self.consume()?;
        Ok(RsgiBodyIter::new(Arc::clone(&self.body)))
    }

    #[pyo3(signature = (status=200, headers=None))]
    fn response_empty(&self, status: u16, headers: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.respond_full("response_empty", status, headers, Bytes::new())
    }

    #[pyo3(signature = (status=200, headers=None, body=None))]
    fn response_str(
        &self,
        status: u16,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyString>>,
    ) -> PyResult<()> {
        let body = match body {
            Some(s) => Bytes::copy_from_slice(s.to_str()?.as_bytes()),
            None => Bytes::new(),
        };
        self.respond_full("response_str", status, headers, body)
    }

    #[pyo3(signature = (status=200, headers=None, body=None))]
    fn response_bytes(
        &self,
        status: u16,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if !self.responder.is_open() {
            return Ok(());
        }
        let body = match body {
            Some(b) => body_bytes(b)?,
            None => Bytes::new(),
        };
        self.respond_full("response_bytes", status, headers, body)
    }

    fn response_file(&self, status: u16, headers: Option<&Bound<'_, PyAny>>, file: PathBuf) -> PyResult<()> {
        if !self.responder.is_open() {
            return Ok(());
        }
        self.responder.respond(ResponsePlan::File {
            status: status_code(status)?,
            headers: headers_arg(headers, "response_file")?,
            path: file,
            range: None,
        });
        Ok(())
    }

    fn response_file_range(
        &self,
        status: u16,
        headers: Option<&Bound<'_, PyAny>>,
        file: PathBuf,
        start: u64,
        end: u64,
    ) -> PyResult<()> {
        if start >= end {
            return Err(PyValueError::new_err(format!(
                "invalid file range: start ({start}) must be lower than end ({end})"
            )));
        }
        if !self.responder.is_open() {
            return Ok(());
        }
        self.responder.respond(ResponsePlan::File {
            status: status_code(status)?,
            headers: headers_arg(headers, "response_file_range")?,
            path: file,
            range: Some((start, end)),
        });
        Ok(())
    }

    #[pyo3(signature = (status=200, headers=None))]
    fn response_stream(&self, status: u16, headers: Option<&Bound<'_, PyAny>>) -> PyResult<RsgiStreamTransport> {
        let status = status_code(status)?;
        let headers = headers_arg(headers, "response_stream")?;
        let Some(tx) = self.responder.take() else {
            return Err(misuse(Iface::Rsgi, "a response was already sent"));
        };
        let (chunks_tx, body) = ResponseBody::stream_for(&self.method, &self.disconnect);
        let discard = chunks_tx.is_none();
        *lock(&self.stream) = chunks_tx;
        let _ = tx.send(ResponsePlan::Ready(build(status, headers, body)));
        Ok(RsgiStreamTransport {
            stream: Arc::clone(&self.stream),
            disconnect: Arc::clone(&self.disconnect),
            rt: self.rt.clone(),
            bridge: Arc::clone(&self.bridge),
            discard,
            write_timeout: self.write_timeout,
        })
    }

    /// Whether the client went away before the response was complete.
    #[getter]
    fn _disconnected(&self) -> bool {
        self.disconnect.is_fired()
    }

    /// Why the engine refused the request body (malformed, too large, stalled), if it did: it
    /// answered for the app or cut its response, and the app's failure to read it is then the
    /// client's doing.
    #[getter]
    fn _refused(&self) -> Option<&'static str> {
        self.disconnect.refused().map(BodyFailure::describe)
    }

    /// Finishes when the client has disconnected.
    fn client_disconnect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        wait_disconnect(py, &self.disconnect, &self.bridge, py.None())
    }

    /// Called by the worker when the app coroutine has ended: closes a response stream (or
    /// aborts it when the app `failed`, so a cut body never passes for a complete one), and
    /// turns a missing response into a 500.
    #[pyo3(signature = (failed=false))]
    fn _finish(&self, failed: bool) {
        if let Some(tx) = lock(&self.stream).take() {
            if failed {
                abort_stream(tx, &self.rt, "the application raised while streaming");
            }
        }
        self.responder.close();
    }
}

/// The transport of a streamed response.
#[pyclass(frozen, module = "granian._granian", name = "RSGIStreamTransport")]
pub(crate) struct RsgiStreamTransport {
    stream: StreamSlot,
    disconnect: Arc<Disconnect>,
    rt: tokio::runtime::Handle,
    bridge: Arc<Bridge>,
    /// HEAD response: hyper sends no body, chunks are dropped.
    discard: bool,
    /// `--write-timeout`: the longest wait of a chunk for room (`wait_for_room`).
    write_timeout: Option<Duration>,
}

impl RsgiStreamTransport {
    fn send<'py>(&self, py: Python<'py>, data: Bytes) -> PyResult<Bound<'py, Awaitable>> {
        if self.discard {
            return Awaitable::done_none(py);
        }
        if self.disconnect.is_fired() {
            return Err(gone());
        }
        let Some(tx) = lock(&self.stream).clone() else {
            return Err(misuse(Iface::Rsgi, "the response stream is finished"));
        };
        let (limit, disconnect, bridge) = (self.write_timeout, &self.disconnect, &self.bridge);
        let wait = |tx, chunk| wait_for_room(tx, chunk, limit, Arc::clone(disconnect), Arc::clone(bridge));
        send_or_wait(py, &tx, Ok(data), wait, &self.rt, &self.bridge, gone)
    }
}

fn gone() -> PyErr {
    client_gone(Iface::Rsgi, "the client disconnected")
}

#[pymethods]
impl RsgiStreamTransport {
    fn send_bytes<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        self.send(py, body_bytes(data)?)
    }

    fn send_str<'py>(&self, py: Python<'py>, data: &Bound<'py, PyString>) -> PyResult<Bound<'py, Awaitable>> {
        self.send(py, Bytes::copy_from_slice(data.to_str()?.as_bytes()))
    }
}
