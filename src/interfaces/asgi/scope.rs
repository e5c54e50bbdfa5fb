//! The ASGI HTTP scope, built as a plain dict with interned keys.

use percent_encoding::percent_decode;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

use crate::http::handler::RequestCtx;
use crate::http::names::COMMON_REQUEST_HEADERS;
use crate::interfaces::py::method::method_str;
use crate::interfaces::py::proxy;

static COMMON_NAMES: PyOnceLock<Vec<(http::HeaderName, Py<PyBytes>)>> = PyOnceLock::new();

/// Header names seen on nearly every request, kept as ready `bytes` objects.
fn common_names(py: Python<'_>) -> &Vec<(http::HeaderName, Py<PyBytes>)> {
    COMMON_NAMES.get_or_init(py, || {
        COMMON_REQUEST_HEADERS
            .iter()
            .map(|n| {
                let b = PyBytes::new(py, n.as_str().as_bytes()).unbind();
                (n.clone(), b)
            })
            .collect()
    })
}

fn header_name<'py>(py: Python<'py>, name: &http::HeaderName) -> Bound<'py, PyBytes> {
    for (n, b) in common_names(py) {
        if n == name {
            return b.bind(py).clone();
        }
    }
    PyBytes::new(py, name.as_str().as_bytes())
}

fn addr_tuple<'py>(py: Python<'py>, addr: Option<std::net::SocketAddr>) -> PyResult<Bound<'py, PyAny>> {
    match addr {
        Some(a) => (a.ip().to_string(), a.port()).into_bound_py_any(py),
        None => Ok(py.None().into_bound(py)),
    }
}

fn http_version(py: Python<'_>, v: http::Version) -> &Bound<'_, PyString> {
    match v {
        http::Version::HTTP_10 => intern!(py, "1.0"),
        http::Version::HTTP_2 => intern!(py, "2"),
        _ => intern!(py, "1.1"),
    }
}

static ASGI_INFO: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

pub(super) fn build<'py>(py: Python<'py>, req: &RequestCtx, root_path: &str) -> PyResult<Bound<'py, PyDict>> {
    let head = &req.head;
    let scope = PyDict::new(py);
    let ws = req.upgrade;
    let kind = if ws {
        intern!(py, "websocket")
    } else {
        intern!(py, "http")
    };
    scope.set_item(intern!(py, "type"), kind)?;
    let asgi = ASGI_INFO.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", "3.0")?;
        d.set_item("spec_version", "2.5")?;
        Ok(d.unbind())
    })?;
    scope.set_item(intern!(py, "asgi"), asgi.bind(py).copy()?)?;
    scope.set_item(intern!(py, "http_version"), http_version(py, head.version))?;
    let secure = req.forwarded.scheme(&req.conn) == "https";
    if ws {
        let scheme = if secure { "wss" } else { "ws" };
        scope.set_item(intern!(py, "scheme"), scheme)?;
        let subprotocols = PyList::empty(py);
        for value in head.headers.get_all(http::header::SEC_WEBSOCKET_PROTOCOL) {
            for p in value
                .to_str()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                subprotocols.append(p)?;
            }
        }
        scope.set_item(intern!(py, "subprotocols"), subprotocols)?;
    } else {
        let scheme = if secure {
            intern!(py, "https")
        } else {
            intern!(py, "http")
        };
        scope.set_item(intern!(py, "scheme"), scheme)?;
        scope.set_item(intern!(py, "method"), method_str(py, &head.method))?;
    }
    let raw_path = head.uri.path().as_bytes();
    let path = if raw_path.contains(&b'%') {
        PyString::new(py, &percent_decode(raw_path).decode_utf8_lossy())
    } else {
        PyString::new(py, head.uri.path())
    };
    scope.set_item(intern!(py, "path"), path)?;
    scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, raw_path))?;
    scope.set_item(
        intern!(py, "query_string"),
        PyBytes::new(py, head.uri.query().unwrap_or("").as_bytes()),
    )?;
    scope.set_item(intern!(py, "root_path"), root_path)?;
    let headers = PyList::empty(py);
    if head.version == http::Version::HTTP_2 && !head.headers.contains_key(http::header::HOST) {
        // HTTP/2 carries the host in `:authority`; ASGI apps expect a `host` header.
        if let Some(authority) = head.uri.authority() {
            let host = PyBytes::new(py, authority.as_str().as_bytes());
            headers.append(PyTuple::new(py, [header_name(py, &http::header::HOST), host])?)?;
        }
    }
    for (name, value) in &head.headers {
        let pair = PyTuple::new(py, [header_name(py, name), PyBytes::new(py, value.as_bytes())])?;
        headers.append(pair)?;
    }
    scope.set_item(intern!(py, "headers"), headers)?;
    scope.set_item(
        intern!(py, "client"),
        addr_tuple(py, req.forwarded.client_addr(&req.conn))?,
    )?;
    let server = match req.conn.local_addr {
        None if !req.conn.server.is_empty() => (req.conn.server.as_str(), py.None()).into_bound_py_any(py)?,
        addr => addr_tuple(py, addr)?,
    };
    scope.set_item(intern!(py, "server"), server)?;
    let ext = PyDict::new(py);
    if ws {
        ext.set_item(intern!(py, "websocket.http.response"), PyDict::new(py))?;
    } else {
        ext.set_item(intern!(py, "http.response.pathsend"), PyDict::new(py))?;
    }
    if req.forwarded.applied() {
        ext.set_item(intern!(py, proxy::KEY), proxy::mark(py, &req.conn)?)?;
    }
    scope.set_item(intern!(py, "extensions"), ext)?;
    Ok(scope)
}
