//! A request's disconnect as a Python awaitable (RSGI `client_disconnect()`, ASGI's
//! `http.disconnect` after the body).

use std::sync::Arc;

use pyo3::prelude::*;

use crate::bridge::{Awaitable, Bridge};
use crate::http::disconnect::Disconnect;

/// An awaitable that finishes with `value` when the client disconnects (at once if it already
/// did). Resolved on the loop thread through the bridge.
pub(crate) fn wait_disconnect<'py>(
    py: Python<'py>,
    disconnect: &Disconnect,
    bridge: &Arc<Bridge>,
    value: Py<PyAny>,
) -> PyResult<Bound<'py, Awaitable>> {
    if disconnect.is_fired() {
        return Awaitable::ready(py, value);
    }
    let aw = Awaitable::pending(py)?;
    let waiter = aw.clone().unbind();
    let bridge = Arc::clone(bridge);
    disconnect.on_fire(Box::new(move || {
        bridge.push(Box::new(move |py, _| Awaitable::resolve(waiter.bind(py), Ok(value))));
    }));
    Ok(aw)
}
