//! The mark ASGI scopes and WSGI environs carry when proxy headers were applied.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::net::ConnInfo;

/// The key of the mark: in ASGI `scope["extensions"]`, and in the WSGI `environ`.
pub(crate) const KEY: &str = "granian.proxy_headers";

/// `{"peer": (host, port)}`: the direct peer whose proxy headers set the client or scheme
/// (`None` for a Unix-socket peer). `granian.utils.proxies` sees it and leaves the request as
/// the server resolved it, instead of applying its own rules a second time.
pub(crate) fn mark<'py>(py: Python<'py>, conn: &ConnInfo) -> PyResult<Bound<'py, PyDict>> {
    let info = PyDict::new(py);
    match conn.peer_addr {
        Some(a) => info.set_item(intern!(py, "peer"), (a.ip().to_string(), a.port()))?,
        None => info.set_item(intern!(py, "peer"), py.None())?,
    }
    Ok(info)
}
