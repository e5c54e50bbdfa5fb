//! granian's network engine, exposed to Python as `granian._granian`.
//! Registration only: see `docs/architecture.md` for the map.

use pyo3::prelude::*;

mod access_log;
mod bridge;
mod config;
mod error;
mod http;
mod interfaces;
mod metrics;
mod net;
mod server;
mod tls;
mod ws;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule(gil_used = false)]
fn _granian(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Whether this build is for a CPython with the GIL (false on free-threaded builds).
    m.add("BUILD_GIL", !cfg!(Py_GIL_DISABLED))?;
    m.add_class::<server::Engine>()?;
    m.add_function(wrap_pyfunction!(server::check_engine_settings, m)?)?;
    m.add_class::<bridge::Awaitable>()?;
    m.add_class::<interfaces::asgi::AsgiHttpProtocol>()?;
    m.add_class::<interfaces::asgi::AsgiWsProtocol>()?;
    m.add_class::<interfaces::rsgi::RsgiScope>()?;
    m.add_class::<interfaces::rsgi::RsgiHeaders>()?;
    m.add_class::<interfaces::rsgi::RsgiHttpProtocol>()?;
    m.add_class::<interfaces::rsgi::RsgiStreamTransport>()?;
    m.add_class::<interfaces::rsgi::RsgiWsProtocol>()?;
    m.add_class::<interfaces::rsgi::RsgiWsTransport>()?;
    m.add_class::<interfaces::rsgi::RsgiWsMessage>()?;
    m.add_class::<interfaces::rsgi::RsgiBodyIter>()?;
    m.add_class::<interfaces::wsgi::WsgiPool>()?;
    m.add_class::<interfaces::wsgi::WsgiInput>()?;
    m.add_class::<interfaces::wsgi::StartResponse>()?;
    m.add("InterfaceError", py.get_type::<error::InterfaceError>())?;
    m.add("ASGIProtocolError", py.get_type::<error::ASGIProtocolError>())?;
    m.add("WSGIProtocolError", py.get_type::<error::WSGIProtocolError>())?;
    m.add("RSGIProtocolError", py.get_type::<error::RSGIProtocolError>())?;
    m.add("RSGIProtocolClosed", py.get_type::<error::RSGIProtocolClosed>())?;
    m.add("ClientDisconnected", py.get_type::<error::ClientDisconnected>())?;
    Ok(())
}
