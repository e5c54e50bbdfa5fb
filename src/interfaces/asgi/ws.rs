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
use crate::error::{client_gone, misuse, type_name, Iface};
use crate::http::body::ResponseBody;
use crate::http::handler::RequestCtx;
use crate::http::response::{build, status_only, ResponsePlan, ResponseSlot};
use crate::interfaces::py::bytes::asgi_bytes;
use crate::interfaces::py::headers::{headers_from_py, Items};
use crate::interfaces::py::status::status_from_py;
use crate::ws::{Accept, Command, Event, WsChannel};

use super::ws_phase::{WsAction, WsError, WsFinish, WsPhase, WsReceive, WsSend};

/// What an accept message carries: the subprotocol and the extra headers.
type AcceptHead = (Option<HeaderValue>, HeaderMap);
/// The head of a denial response.
type DenialHead = (StatusCode, HeaderMap);

#[pyclass(frozen, module = "granian._granian", name = "ASGIWebsocketProtocol")]
pub(crate) struct AsgiWsProtocol {
    phase: Mutex<WsPhase<DenialHead>>,
    responder: ResponseSlot,
    channel: WsChannel,
}

/// The exception for a message of type `ty` the contract refused.
fn ws_error(ty: &Bound<'_, PyString>, err: WsError) -> PyErr {
    match err {
        WsError::Order(expected) => unexpected(ty, expected),
        WsError::Closed => closed_error(),
    }
}

fn closed_error() -> PyErr {
    client_gone(Iface::Asgi, "the WebSocket connection is closed")
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
            phase: Mutex::new(WsPhase::Connecting),
            responder: ResponseSlot::new(req.responder),
            channel: WsChannel::new(req.rt, req.bridge),
        }
    }

    /// The subprotocol and headers of a `websocket.accept` message.
    fn parse_accept(message: &Bound<'_, PyDict>) -> PyResult<AcceptHead> {
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
        Ok((subprotocol, headers))
    }

    fn parse_denial_start(message: &Bound<'_, PyDict>) -> PyResult<DenialHead> {
        let py = message.py();
        let origin = "websocket.http.response.start";
        let status = status_from_py(message.get_item(intern!(py, "status"))?, origin)?;
        let headers = match message.get_item(intern!(py, "headers"))? {
            Some(h) => headers_from_py(&h, Items::Bytes, origin)?,
            None => HeaderMap::new(),
        };
        Ok((status, headers))
    }

    fn parse_denial_body<'py>(message: &Bound<'py, PyDict>) -> PyResult<WsSend<AcceptHead, DenialHead>> {
        let py = message.py();
        let chunk = asgi_bytes(
            message.get_item(intern!(py, "body"))?,
            "websocket.http.response.body",
            "body",
        )?;
        let more = match optional(message, intern!(py, "more_body"))? {
            Some(m) => m.is_truthy()?,
            None => false,
        };
        Ok(WsSend::DenialBody { chunk, more })
    }

    /// The code and reason of a `websocket.close` message.
    fn parse_close(message: &Bound<'_, PyDict>) -> PyResult<(u16, String)> {
        let py = message.py();
        let origin = "websocket.close";
        let code = typed::<u16>(message, intern!(py, "code"), origin, "an int (1000-4999)")?.unwrap_or(1000);
        let reason = typed::<String>(message, intern!(py, "reason"), origin, "a str")?.unwrap_or_default();
        Ok((code, reason))
    }

    fn send_message<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        let py = message.py();
        let message = message_dict(message, "websocket.*")?;
        let ty = message_type(message)?;
        let mut phase = lock(&self.phase);
        let open = matches!(*phase, WsPhase::Accepted);
        // Parsed before the phase moves, so that a malformed message changes nothing.
        let mut close = (1000, String::new());
        let mut data = None;
        let msg = if is(&ty, intern!(py, "websocket.send")) {
            if open {
                data = Some(Self::data_command(message)?);
            }
            WsSend::Data
        } else if is(&ty, intern!(py, "websocket.accept")) {
            WsSend::Accept(Self::parse_accept(message)?)
        } else if is(&ty, intern!(py, "websocket.close")) {
            if open {
                close = Self::parse_close(message)?;
            }
            WsSend::Close
        } else if is(&ty, intern!(py, "websocket.http.response.start")) {
            WsSend::DenialStart(Self::parse_denial_start(message)?)
        } else if is(&ty, intern!(py, "websocket.http.response.body")) {
            Self::parse_denial_body(message)?
        } else {
            return Err(ws_error(&ty, phase.expected()));
        };
        let action = phase.on_send(msg).map_err(|e| ws_error(&ty, e))?;
        drop(phase);
        match action {
            WsAction::Accept((subprotocol, headers)) => {
                let Some(ends) = self.channel.take_ends() else {
                    return Err(misuse(Iface::Asgi, "the WebSocket was already accepted"));
                };
                self.responder.respond(ResponsePlan::Switch(Box::new(Accept {
                    subprotocol,
                    headers,
                    ends,
                })));
            }
            WsAction::Refuse => {
                self.responder
                    .respond(ResponsePlan::Ready(status_only(StatusCode::FORBIDDEN, b"")));
            }
            WsAction::Hold => {}
            WsAction::Deny((status, mut headers), body) => {
                headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                self.responder
                    .respond(ResponsePlan::Ready(build(status, headers, ResponseBody::full(body))));
            }
            WsAction::Send => {
                if let Some(cmd) = data {
                    return self.channel.send(py, cmd, closed_error);
                }
            }
            WsAction::Close => {
                let (code, reason) = close;
                return self.channel.send(py, Command::Close(code, reason), closed_error);
            }
        }
        Awaitable::done_none(py)
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
        match lock(&self.phase).on_receive() {
            WsReceive::Connect => {
                let msg = PyDict::new(py);
                msg.set_item(intern!(py, "type"), intern!(py, "websocket.connect"))?;
                return Awaitable::ready(py, msg.into_any().unbind());
            }
            WsReceive::NeverOpened => return Awaitable::ready(py, disconnect_message(py, 1006, "")?),
            WsReceive::Channel => {}
        }
        match self.channel.receive(py, event_message)? {
            Ok(aw) => Ok(aw),
            Err(()) => Err(misuse(Iface::Asgi, "another receive() is already waiting")),
        }
    }

    /// The ASGI `send` callable. Every error is raised by the returned awaitable.
    fn send<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        Awaitable::raise_on_await(message.py(), self.send_message(message))
    }

    /// Whether the client went away (for the worker's error reporting).
    #[getter]
    fn _disconnected(&self) -> bool {
        self.channel.is_closed()
    }

    /// Never: a handshake has no request body (the same face as the HTTP protocol).
    #[getter]
    fn _refused(&self) -> Option<&'static str> {
        None
    }

    /// Called by the worker when the app coroutine has ended: a handshake left open is
    /// refused (403; 500 when the app failed), an open connection is closed (1000; 1011 when
    /// the app failed).
    #[pyo3(signature = (failed=false))]
    fn _finish(&self, failed: bool) -> Option<&'static str> {
        match lock(&self.phase).on_finish(failed) {
            WsFinish::Refuse(status) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                self.responder.respond(ResponsePlan::Ready(status_only(status, b"")));
            }
            WsFinish::Close(code) => self.channel.close_now(code),
            WsFinish::Nothing => {}
        }
        self.responder.close();
        None
    }
}
