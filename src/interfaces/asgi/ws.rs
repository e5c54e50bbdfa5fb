//! ASGI WebSocket `receive` and `send` (ASGI spec: WebSocket, with the
//! `websocket.http.response` denial extension), over the engine's [`WsChannel`].

use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::protocol::{is, message_dict, message_type, unexpected};
use crate::bridge::{lock, Awaitable};
use crate::error::{type_name, ASGIProtocolError, ClientDisconnected};
use crate::http::body::ResponseBody;
use crate::http::handler::RequestCtx;
use crate::http::headers::{headers_from_py, Items};
use crate::http::pybytes::asgi_bytes;
use crate::http::response::{build, status_only, Responder, ResponsePlan};
use crate::http::status::status_from_py;
use crate::ws::{Accept, Command, Event, WsChannel};

enum Phase {
    /// `websocket.connect` not received by the app yet.
    Connecting,
    /// Waiting for the app's accept, close or denial response.
    Handshake,
    /// `websocket.http.response.start` sent: the body follows.
    Denial {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    Accepted,
    /// Closed by the app, refused, or ended by the client.
    Closed,
}

#[pyclass(frozen, module = "granian._granian", name = "ASGIWebsocketProtocol")]
pub(crate) struct AsgiWsProtocol {
    phase: Mutex<Phase>,
    responder: Mutex<Option<Responder>>,
    channel: WsChannel,
}

fn closed_error() -> PyErr {
    ClientDisconnected::new_err("the WebSocket connection is closed")
}

fn disconnect_message(py: Python<'_>, code: u16, reason: &str) -> PyResult<Py<PyAny>> {
    let msg = PyDict::new(py);
    msg.set_item(intern!(py, "type"), intern!(py, "websocket.disconnect"))?;
    msg.set_item(intern!(py, "code"), code)?;
    msg.set_item(intern!(py, "reason"), reason)?;
    Ok(msg.into_any().unbind())
}

fn event_message(py: Python<'_>, ev: Option<Event>) -> PyResult<Py<PyAny>> {
    let msg = PyDict::new(py);
    match ev {
        Some(Event::Text(b)) => {
            msg.set_item(intern!(py, "type"), intern!(py, "websocket.receive"))?;
            // Valid UTF-8: the framing layer closes the connection (1007) otherwise.
            let text = std::str::from_utf8(&b).map_err(|e| PyValueError::new_err(e.to_string()))?;
            msg.set_item(intern!(py, "text"), text)?;
        }
        Some(Event::Binary(b)) => {
            msg.set_item(intern!(py, "type"), intern!(py, "websocket.receive"))?;
            msg.set_item(intern!(py, "bytes"), PyBytes::new(py, &b))?;
        }
        Some(Event::Closed(code, reason)) => return disconnect_message(py, code, &reason),
        None => return disconnect_message(py, 1006, ""),
    }
    Ok(msg.into_any().unbind())
}

fn optional<'py>(message: &Bound<'py, PyDict>, key: &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(message.get_item(key)?.filter(|v| !v.is_none()))
}

/// An optional field that must be a `T` when present; the error names the message and field.
fn typed<'py, T: for<'a> FromPyObject<'a, 'py>>(
    message: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    origin: &str,
    expected: &str,
) -> PyResult<Option<T>> {
    match optional(message, key)? {
        None => Ok(None),
        Some(v) => v.extract().map(Some).map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "{origin} '{key}': expected {expected}, got {}",
                type_name(&v)
            ))
        }),
    }
}

impl AsgiWsProtocol {
    pub(super) fn new(req: RequestCtx) -> Self {
        Self {
            phase: Mutex::new(Phase::Connecting),
            responder: Mutex::new(Some(req.responder)),
            channel: WsChannel::new(req.rt, req.bridge),
        }
    }

    fn respond(&self, plan: ResponsePlan) {
        if let Some(tx) = lock(&self.responder).take() {
            tx.send(plan);
        }
    }

    fn accept(&self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        let origin = "websocket.accept";
        let subprotocol = match typed::<String>(message, intern!(py, "subprotocol"), origin, "a str")? {
            Some(s) => Some(
                HeaderValue::from_str(&s)
                    .map_err(|_| PyValueError::new_err(format!("{origin} 'subprotocol': invalid value {s:?}")))?,
            ),
            None => None,
        };
        let headers = match message.get_item(intern!(py, "headers"))? {
            Some(h) => headers_from_py(&h, Items::Bytes, origin)?,
            None => HeaderMap::new(),
        };
        let Some(ends) = self.channel.take_ends() else {
            return Err(ASGIProtocolError::new_err("the WebSocket was already accepted"));
        };
        self.respond(ResponsePlan::WebSocket(Accept {
            subprotocol,
            headers,
            ends,
        }));
        Ok(())
    }

    fn send_message<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        let py = message.py();
        let message = message_dict(message, "websocket.*")?;
        let ty = message_type(message)?;
        let mut phase = lock(&self.phase);
        match &mut *phase {
            Phase::Connecting | Phase::Handshake => {
                if is(&ty, intern!(py, "websocket.accept")) {
                    self.accept(message)?;
                    *phase = Phase::Accepted;
                } else if is(&ty, intern!(py, "websocket.close")) {
                    self.respond(ResponsePlan::Ready(status_only(StatusCode::FORBIDDEN, b"")));
                    *phase = Phase::Closed;
                } else if is(&ty, intern!(py, "websocket.http.response.start")) {
                    let origin = "websocket.http.response.start";
                    let status = status_from_py(message.get_item(intern!(py, "status"))?, origin)?;
                    let headers = match message.get_item(intern!(py, "headers"))? {
                        Some(h) => headers_from_py(&h, Items::Bytes, origin)?,
                        None => HeaderMap::new(),
                    };
                    *phase = Phase::Denial {
                        status,
                        headers,
                        body: Vec::new(),
                    };
                } else {
                    return Err(unexpected(
                        &ty,
                        "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'",
                    ));
                }
                Awaitable::done_none(py)
            }
            Phase::Denial { status, headers, body } => {
                if !is(&ty, intern!(py, "websocket.http.response.body")) {
                    return Err(unexpected(&ty, "'websocket.http.response.body'"));
                }
                let chunk = asgi_bytes(
                    message.get_item(intern!(py, "body"))?,
                    "websocket.http.response.body",
                    "body",
                )?;
                body.extend_from_slice(&chunk);
                let more = match optional(message, intern!(py, "more_body"))? {
                    Some(m) => m.is_truthy()?,
                    None => false,
                };
                if !more {
                    let body = Bytes::from(std::mem::take(body));
                    let mut headers = std::mem::take(headers);
                    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                    let resp = build(*status, headers, ResponseBody::full(body));
                    self.respond(ResponsePlan::Ready(resp));
                    *phase = Phase::Closed;
                }
                Awaitable::done_none(py)
            }
            Phase::Accepted => {
                if is(&ty, intern!(py, "websocket.send")) {
                    let cmd = Self::data_command(message)?;
                    drop(phase);
                    self.channel.send(py, cmd, closed_error)
                } else if is(&ty, intern!(py, "websocket.close")) {
                    let origin = "websocket.close";
                    let code =
                        typed::<u16>(message, intern!(py, "code"), origin, "an int (1000-4999)")?.unwrap_or(1000);
                    let reason = typed::<String>(message, intern!(py, "reason"), origin, "a str")?.unwrap_or_default();
                    *phase = Phase::Closed;
                    drop(phase);
                    self.channel.send(py, Command::Close(code, reason), closed_error)
                } else {
                    Err(unexpected(&ty, "'websocket.send' or 'websocket.close'"))
                }
            }
            Phase::Closed => Err(closed_error()),
        }
    }

    fn data_command(message: &Bound<'_, PyDict>) -> PyResult<Command> {
        let py = message.py();
        let origin = "websocket.send";
        if let Some(b) = optional(message, intern!(py, "bytes"))? {
            return Ok(Command::Binary(asgi_bytes(Some(b), origin, "bytes")?));
        }
        if let Some(t) = typed::<Bound<'_, PyString>>(message, intern!(py, "text"), origin, "a str")? {
            return Ok(Command::Text(Bytes::copy_from_slice(t.to_str()?.as_bytes())));
        }
        Err(PyValueError::new_err("websocket.send needs 'bytes' or 'text'"))
    }
}

#[pymethods]
impl AsgiWsProtocol {
    /// The ASGI `receive` callable.
    fn receive<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        {
            let mut phase = lock(&self.phase);
            match &*phase {
                Phase::Connecting => {
                    *phase = Phase::Handshake;
                    let msg = PyDict::new(py);
                    msg.set_item(intern!(py, "type"), intern!(py, "websocket.connect"))?;
                    return Awaitable::ready(py, msg.into_any().unbind());
                }
                Phase::Closed if !self.channel.accepted() => {
                    return Awaitable::ready(py, disconnect_message(py, 1006, "")?);
                }
                _ => {}
            }
        }
        match self.channel.receive(py, event_message)? {
            Ok(aw) => Ok(aw),
            Err(()) => Err(ASGIProtocolError::new_err("another receive() is already waiting")),
        }
    }

    /// The ASGI `send` callable. Every error is raised by the returned awaitable.
    fn send<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        let py = message.py();
        match self.send_message(message) {
            Ok(aw) => Ok(aw),
            Err(err) => Awaitable::failed(py, err),
        }
    }

    /// Whether the client went away (for the worker's error reporting).
    #[getter]
    fn _disconnected(&self) -> bool {
        self.channel.is_closed()
    }

    /// Called by the worker when the app coroutine has ended: a handshake left open is
    /// refused (403; 500 when the app failed), an open connection is closed (1000; 1011 when
    /// the app failed).
    #[pyo3(signature = (failed=false))]
    fn _finish(&self, failed: bool) -> Option<&'static str> {
        let phase = std::mem::replace(&mut *lock(&self.phase), Phase::Closed);
        match phase {
            Phase::Connecting | Phase::Handshake | Phase::Denial { .. } => {
                let status = if failed {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::FORBIDDEN
                };
                self.respond(ResponsePlan::Ready(status_only(status, b"")));
            }
            Phase::Accepted => self.channel.close_now(if failed { 1011 } else { 1000 }),
            Phase::Closed => {}
        }
        lock(&self.responder).take();
        None
    }
}
