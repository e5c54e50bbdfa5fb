//! ASGI `receive` and `send` for one HTTP request. The message order of the ASGI HTTP spec is
//! the state machine of `http_phase.rs`; this object parses messages and applies its actions.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use tokio::sync::mpsc;

use crate::bridge::{lock, send_or_wait, Awaitable, Bridge};
use crate::error::{client_gone, misuse, type_name, Iface};
use crate::http::body::{abort_stream, wait_for_room, Chunk, ResponseBody};
use crate::http::body_failure::BodyFailure;
use crate::http::disconnect::Disconnect;
use crate::http::handler::RequestCtx;
use crate::http::response::{build, ResponsePlan, ResponseSlot};
use crate::interfaces::py::body::{AsyncBody, Read};
use crate::interfaces::py::bytes::asgi_bytes;
use crate::interfaces::py::disconnect::wait_disconnect;
use crate::interfaces::py::headers::{headers_from_py, Items};
use crate::interfaces::py::status::status_from_py;

use super::http_phase::{Action, HttpSend, Phase, Unfinished};

/// The response head an `http.response.start` gave.
type Head = (StatusCode, HeaderMap);

#[pyclass(frozen, freelist = 128, module = "granian._granian", name = "ASGIHTTPProtocol")]
pub(crate) struct AsgiHttpProtocol {
    body: AsyncBody,
    phase: Mutex<Phase<Head, mpsc::Sender<Chunk>>>,
    responder: ResponseSlot,
    disconnect: Arc<Disconnect>,
    rt: tokio::runtime::Handle,
    bridge: Arc<Bridge>,
    method: http::Method,
    /// `--write-timeout`: the longest wait of a body chunk for room (`wait_for_room`).
    write_timeout: Option<Duration>,
}

fn request_message<'py>(py: Python<'py>, body: &[u8], more: bool) -> PyResult<Bound<'py, PyDict>> {
    let msg = PyDict::new(py);
    msg.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
    msg.set_item(intern!(py, "body"), PyBytes::new(py, body))?;
    msg.set_item(intern!(py, "more_body"), more)?;
    Ok(msg)
}

fn disconnect_message(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let msg = PyDict::new(py);
    msg.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?;
    Ok(msg)
}

pub(super) fn is(ty: &Bound<'_, PyString>, name: &Bound<'_, PyString>) -> bool {
    ty.is(name) || ty.to_str().is_ok_and(|t| name.to_str().is_ok_and(|n| t == n))
}

/// The message passed to `send`: a `dict` (what every app sends).
pub(super) fn message_dict<'a, 'py>(
    message: &'a Bound<'py, PyAny>,
    expected: &str,
) -> PyResult<&'a Bound<'py, PyDict>> {
    message.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "ASGI send() takes a message dict ({expected}), got {}",
            type_name(message)
        ))
    })
}

pub(super) fn message_type<'py>(message: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyString>> {
    let py = message.py();
    match message.get_item(intern!(py, "type"))? {
        Some(t) => t.cast_into::<PyString>().map_err(|e| {
            PyTypeError::new_err(format!(
                "ASGI message 'type': expected a str, got {}",
                type_name(&e.into_inner())
            ))
        }),
        None => Err(PyValueError::new_err("ASGI message without a 'type' key")),
    }
}

fn gone() -> PyErr {
    client_gone(Iface::Asgi, "the client disconnected")
}

pub(super) fn unexpected(ty: &Bound<'_, PyString>, expected: &str) -> PyErr {
    misuse(
        Iface::Asgi,
        format!("unexpected ASGI message '{ty}', expected {expected}"),
    )
}

impl AsgiHttpProtocol {
    pub(super) fn new(req: RequestCtx) -> Self {
        Self {
            method: req.head.method.clone(),
            body: AsyncBody::new(req.body, req.rt.clone(), Arc::clone(&req.bridge)),
            phase: Mutex::new(Phase::Init),
            responder: ResponseSlot::new(req.responder),
            disconnect: req.disconnect,
            rt: req.rt,
            bridge: req.bridge,
            write_timeout: req.write_timeout,
        }
    }

    /// The head of an `http.response.start` message.
    fn parse_start(message: &Bound<'_, PyDict>, ty: &Bound<'_, PyString>) -> PyResult<Head> {
        let py = message.py();
        let origin = ty.to_str()?;
        let status = status_from_py(message.get_item(intern!(py, "status"))?, origin)?;
        let headers = match message.get_item(intern!(py, "headers"))? {
            Some(h) => headers_from_py(&h, Items::Bytes, origin)?,
            None => HeaderMap::new(),
        };
        Ok((status, headers))
    }

    /// The `path` of an `http.response.pathsend` message.
    fn parse_path(message: &Bound<'_, PyDict>) -> PyResult<PathBuf> {
        let py = message.py();
        match message.get_item(intern!(py, "path"))? {
            Some(p) => p.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "http.response.pathsend 'path': expected a str or os.PathLike, got {}",
                    type_name(&p)
                ))
            }),
            None => Err(PyValueError::new_err("http.response.pathsend needs a 'path'")),
        }
    }

    fn send_message<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        let py = message.py();
        let message = message_dict(message, "http.response.*")?;
        if lock(&self.phase).is_done() {
            // ASGI: once the response is complete, "any further messages on the channel will be
            // ignored" (not even checked: a late message cannot fail the request).
            return Awaitable::done_none(py);
        }
        if self.disconnect.is_fired() {
            return Err(gone());
        }
        let ty = message_type(message)?;
        let mut chunk = Bytes::new();
        let mut path = None;
        let msg = if is(&ty, intern!(py, "http.response.body")) {
            chunk = asgi_bytes(message.get_item(intern!(py, "body"))?, ty.to_str()?, "body")?;
            let more = match message.get_item(intern!(py, "more_body"))? {
                Some(m) => m.is_truthy()?,
                None => false,
            };
            HttpSend::Body { more }
        } else if is(&ty, intern!(py, "http.response.start")) {
            HttpSend::Start(Self::parse_start(message, &ty)?)
        } else if is(&ty, intern!(py, "http.response.pathsend")) {
            path = Some(Self::parse_path(message)?);
            HttpSend::PathSend
        } else {
            return Err(unexpected(&ty, "an 'http.response.*' message"));
        };
        let action = lock(&self.phase)
            .on_send(msg, |(status, headers)| {
                let (tx, body) = ResponseBody::stream_for(&self.method, &self.disconnect);
                self.responder
                    .respond(ResponsePlan::Ready(build(status, headers, body)));
                tx
            })
            .map_err(|e| unexpected(&ty, e.expected))?;
        match action {
            Action::Hold | Action::Ignore => {}
            Action::Whole((status, headers)) => {
                self.responder
                    .respond(ResponsePlan::Ready(build(status, headers, ResponseBody::full(chunk))));
            }
            Action::File((status, headers)) => {
                if let Some(path) = path {
                    self.responder.respond(ResponsePlan::File {
                        status,
                        headers,
                        path,
                        range: None,
                    });
                }
            }
            Action::Chunk { tx: Some(tx), .. } if !chunk.is_empty() => {
                // `tx` is dropped once the chunk is queued; after the last chunk that ends the
                // body.
                let (limit, disconnect, bridge) = (self.write_timeout, &self.disconnect, &self.bridge);
                let wait = |tx, chunk| wait_for_room(tx, chunk, limit, Arc::clone(disconnect), Arc::clone(bridge));
                return send_or_wait(py, &tx, Ok(chunk), wait, &self.rt, &self.bridge, gone);
            }
            Action::Chunk { .. } => {}
        }
        Awaitable::done_none(py)
    }
}

#[pymethods]
impl AsgiHttpProtocol {
    /// The ASGI `receive` callable.
    fn receive<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        if self.disconnect.is_fired() {
            return Awaitable::ready(py, disconnect_message(py)?.into_any().unbind());
        }
        if self.body.is_done() {
            let msg = disconnect_message(py)?.into_any().unbind();
            if lock(&self.phase).is_done() {
                // The response is complete: nothing more will happen on this request.
                return Awaitable::ready(py, msg);
            }
            return wait_disconnect(py, &self.disconnect, &self.bridge, msg);
        }
        let disconnect = Arc::clone(&self.disconnect);
        self.body.read(py, false, move |py, read| {
            let msg = match read {
                Read::Chunk { data, last } => request_message(py, &data, !last)?,
                Read::End => request_message(py, b"", false)?,
                Read::Broken(_) => {
                    // The upload broke off: the client is gone, whatever hyper notices later.
                    disconnect.fire();
                    disconnect_message(py)?
                }
            };
            Ok(msg.into_any().unbind())
        })
    }

    /// The ASGI `send` callable. Every error (a malformed message, a message out of order, a
    /// client that left) is raised by the returned awaitable, as `await send(...)` expects.
    fn send<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        Awaitable::raise_on_await(message.py(), self.send_message(message))
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

    /// Called by the worker when the app coroutine has ended. Returns a description of what
    /// the app left undone (for the log), after answering 500 or aborting a cut stream.
    #[pyo3(signature = (failed=false))]
    fn _finish(&self, failed: bool) -> Option<&'static str> {
        let left = lock(&self.phase).on_finish();
        self.responder.close();
        // An app that stops because its client left did nothing wrong.
        let failed = failed || self.disconnect.is_fired();
        let complaint = left.complaint();
        if let Unfinished::CutStream(Some(tx)) = left {
            abort_stream(tx, &self.rt, "the response was not completed");
        }
        complaint.filter(|_| !failed)
    }
}
