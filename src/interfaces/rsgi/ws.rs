//! The RSGI WebSocket protocol object and its transport (RSGI spec §5), over the engine's
//! [`WsChannel`].

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::bridge::{lock, Awaitable, Bridge};
use crate::error::{client_gone, misuse, Iface};
use crate::http::response::{status_only, Responder, ResponsePlan, ResponseSlot};
use crate::interfaces::py::bytes::bytes_from_py;
use crate::ws::{Accept, Command, Event, WsChannel};

use super::ws_phase::{AcceptError, RsgiWsPhase, Settle};

/// `WebsocketMessageType` values.
const KIND_CLOSE: u8 = 0;
const KIND_BYTES: u8 = 1;
const KIND_STRING: u8 = 2;

#[pyclass(frozen, module = "granian._granian", name = "RSGIWebsocketProtocol")]
pub(crate) struct RsgiWsProtocol {
    responder: ResponseSlot,
    channel: Arc<WsChannel>,
    /// The contract's state, shared with the transport (sends stop once it is closed).
    phase: Arc<Mutex<RsgiWsPhase>>,
}

/// What `accept()` resolves to: receives and sends messages.
#[pyclass(frozen, module = "granian._granian", name = "RSGIWebsocketTransport")]
pub(crate) struct RsgiWsTransport {
    channel: Arc<WsChannel>,
    phase: Arc<Mutex<RsgiWsPhase>>,
}

/// One incoming message: `kind` 0 = closed, 1 = bytes, 2 = str; `data` the payload.
#[pyclass(frozen, get_all, module = "granian._granian", name = "RSGIWebsocketMessage")]
pub(crate) struct RsgiWsMessage {
    kind: u8,
    data: Py<PyAny>,
}

fn closed_error() -> PyErr {
    client_gone(Iface::Rsgi, "the WebSocket connection is closed")
}

fn message(py: Python<'_>, ev: Option<Event>) -> PyResult<Py<PyAny>> {
    let (kind, data) = match ev {
        Some(Event::Text(b)) => {
            let text = std::str::from_utf8(&b).map_err(|e| misuse(Iface::Rsgi, e.to_string()))?;
            (KIND_STRING, PyString::new(py, text).into_any().unbind())
        }
        Some(Event::Binary(b)) => (KIND_BYTES, PyBytes::new(py, &b).into_any().unbind()),
        Some(Event::Closed(..)) | None => (KIND_CLOSE, py.None()),
    };
    Ok(Py::new(py, RsgiWsMessage { kind, data })?.into_any())
}

impl RsgiWsProtocol {
    pub(super) fn new(responder: Responder, rt: tokio::runtime::Handle, bridge: Arc<Bridge>) -> Self {
        Self {
            responder: ResponseSlot::new(responder),
            channel: Arc::new(WsChannel::new(rt, bridge)),
            phase: Arc::new(Mutex::new(RsgiWsPhase::Handshake)),
        }
    }

    fn settle(&self, settle: Settle) -> PyResult<()> {
        match settle {
            Settle::Refuse(status) => {
                let status = StatusCode::from_u16(status)
                    .map_err(|_| misuse(Iface::Rsgi, format!("invalid HTTP status code {status}")))?;
                self.responder.respond(ResponsePlan::Ready(status_only(status, b"")));
            }
            Settle::Close(code) => self.channel.close_now(code),
            Settle::Nothing => {}
        }
        Ok(())
    }
}

#[pymethods]
impl RsgiWsProtocol {
    /// `await protocol.accept()`: completes the handshake, returns the transport.
    fn accept<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        lock(&self.phase).on_accept().map_err(|e| match e {
            AcceptError::Closed => misuse(Iface::Rsgi, "the WebSocket was closed"),
            AcceptError::AlreadyAccepted => misuse(Iface::Rsgi, "the WebSocket was already accepted"),
        })?;
        let (Some(tx), Some(ends)) = (self.responder.take(), self.channel.take_ends()) else {
            return Err(misuse(Iface::Rsgi, "the WebSocket was already accepted"));
        };
        tx.send(ResponsePlan::Switch(Box::new(Accept {
            subprotocol: None,
            headers: HeaderMap::new(),
            ends,
        })));
        let transport = RsgiWsTransport {
            channel: Arc::clone(&self.channel),
            phase: Arc::clone(&self.phase),
        };
        Awaitable::ready(py, Py::new(py, transport)?.into_any())
    }

    /// Before `accept()`: refuses the upgrade with `status` (403 by default). After: closes
    /// the connection (1000). Only the first call has an effect.
    #[pyo3(signature = (status=None))]
    fn close(&self, status: Option<u16>) -> PyResult<()> {
        let settle = lock(&self.phase).on_close(status);
        self.settle(settle)
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

    /// Called by the worker when the app has returned (or raised).
    #[pyo3(signature = (failed=false))]
    fn _finish(&self, failed: bool) {
        let settle = lock(&self.phase).on_finish(failed);
        // Statuses here are fixed (403, 500): settling cannot fail.
        let _ = self.settle(settle);
    }
}

impl RsgiWsTransport {
    fn send<'py>(&self, py: Python<'py>, cmd: Command) -> PyResult<Bound<'py, Awaitable>> {
        if !lock(&self.phase).can_send() {
            return Err(misuse(Iface::Rsgi, "the WebSocket was closed"));
        }
        self.channel.send(py, cmd, closed_error)
    }
}

#[pymethods]
impl RsgiWsTransport {
    /// `await transport.receive()`: the next message (kind 0 once the connection is over).
    fn receive<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        if self.channel.is_closed() {
            return Err(closed_error());
        }
        match self.channel.receive(py, message)? {
            Ok(aw) => Ok(aw),
            Err(()) => Err(misuse(Iface::Rsgi, "another receive() is already waiting")),
        }
    }

    fn send_bytes<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        self.send(py, Command::Binary(bytes_from_py(data)?))
    }

    fn send_str<'py>(&self, py: Python<'py>, data: &Bound<'py, PyString>) -> PyResult<Bound<'py, Awaitable>> {
        self.send(py, Command::Text(Bytes::copy_from_slice(data.to_str()?.as_bytes())))
    }
}
