//! Request body access for RSGI: `await protocol()` and `async for chunk in protocol`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bridge::{lock, spawn_awaitable, Awaitable, Bridge};
use crate::error::RSGIProtocolClosed;
use crate::http::body::BodyStream;

/// Reads a streaming body on the runtime and resolves `aw` on the loop thread with
/// `PyBytes`, or with `on_end()` when the body is over.
pub(super) fn spawn_read<'py>(
    py: Python<'py>,
    rt: &tokio::runtime::Handle,
    bridge: &Arc<Bridge>,
    body: Arc<tokio::sync::Mutex<BodyStream>>,
    whole: bool,
) -> PyResult<Bound<'py, Awaitable>> {
    let read = async move {
        let mut body = body.lock().await;
        if whole {
            body.read_all().await.map(Some)
        } else {
            body.next_chunk().await
        }
    };
    spawn_awaitable(py, rt, bridge, read, |py, res| match res {
        Ok(Some(b)) => Ok(PyBytes::new(py, &b).into_any().unbind()),
        Ok(None) => Err(PyStopAsyncIteration::new_err(())),
        Err(e) => Err(RSGIProtocolClosed::new_err(format!("request body: {e}"))),
    })
}

enum IterState {
    Full(Option<Bytes>),
    Stream(Arc<tokio::sync::Mutex<BodyStream>>),
}

/// The async iterator returned by `protocol.__aiter__()`.
#[pyclass(frozen, module = "granian._granian", name = "RSGIBodyIter")]
pub(crate) struct RsgiBodyIter {
    state: Mutex<IterState>,
    rt: tokio::runtime::Handle,
    bridge: Arc<Bridge>,
}

impl RsgiBodyIter {
    pub(super) fn full(b: Bytes, rt: tokio::runtime::Handle, bridge: Arc<Bridge>) -> Self {
        let first = (!b.is_empty()).then_some(b);
        Self {
            state: Mutex::new(IterState::Full(first)),
            rt,
            bridge,
        }
    }

    pub(super) fn stream(body: BodyStream, rt: tokio::runtime::Handle, bridge: Arc<Bridge>) -> Self {
        Self {
            state: Mutex::new(IterState::Stream(Arc::new(tokio::sync::Mutex::new(body)))),
            rt,
            bridge,
        }
    }
}

#[pymethods]
impl RsgiBodyIter {
    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        let mut st = lock(&self.state);
        match &mut *st {
            IterState::Full(b) => match b.take() {
                Some(b) => Awaitable::ready(py, PyBytes::new(py, &b).into_any().unbind()),
                None => Err(PyStopAsyncIteration::new_err(())),
            },
            IterState::Stream(body) => {
                let body = Arc::clone(body);
                drop(st);
                spawn_read(py, &self.rt, &self.bridge, body, false)
            }
        }
    }
}
