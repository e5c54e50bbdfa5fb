//! The RSGI scope: a read-only object whose attributes are converted lazily.

use std::borrow::Cow;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::headers::RsgiHeaders;
use super::protocol::RsgiHttpProtocol;
use super::ws::RsgiWsProtocol;
use crate::http::forwarded::Forwarded;
use crate::http::handler::RequestCtx;
use crate::interfaces::py::method::method_str;
use crate::net::ConnInfo;

#[pyclass(frozen, freelist = 128, module = "granian._granian", name = "RSGIScope")]
pub(crate) struct RsgiScope {
    proto: &'static str,
    version: http::Version,
    method: http::Method,
    uri: http::Uri,
    headers: Py<RsgiHeaders>,
    conn: Arc<ConnInfo>,
    forwarded: Forwarded,
}

/// Builds the scope and protocol objects of one HTTP request or WebSocket handshake.
pub(super) fn split(py: Python<'_>, req: RequestCtx) -> PyResult<(Bound<'_, RsgiScope>, Bound<'_, PyAny>)> {
    let RequestCtx {
        head,
        body,
        responder,
        disconnect,
        conn,
        forwarded,
        rt,
        bridge,
        write_timeout,
        upgrade: websocket,
    } = req;
    let headers = Py::new(py, RsgiHeaders::new(head.headers))?;
    let method = head.method.clone();
    let scope = RsgiScope {
        proto: if websocket { "ws" } else { "http" },
        version: head.version,
        method: head.method,
        uri: head.uri,
        headers,
        conn,
        forwarded,
    };
    let proto = if websocket {
        Bound::new(py, RsgiWsProtocol::new(responder, rt, bridge))?.into_any()
    } else {
        Bound::new(
            py,
            RsgiHttpProtocol::new(body, responder, disconnect, rt, bridge, method, write_timeout),
        )?
        .into_any()
    };
    Ok((Bound::new(py, scope)?, proto))
}

#[pymethods]
impl RsgiScope {
    #[getter]
    fn proto<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match self.proto {
            "ws" => intern!(py, "ws").clone(),
            _ => intern!(py, "http").clone(),
        }
    }

    #[getter]
    fn rsgi_version<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        intern!(py, "1.6").clone()
    }

    #[getter]
    fn http_version<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match self.version {
            http::Version::HTTP_11 => intern!(py, "1.1").clone(),
            http::Version::HTTP_2 => intern!(py, "2").clone(),
            http::Version::HTTP_3 => intern!(py, "3").clone(),
            _ => intern!(py, "1").clone(),
        }
    }

    #[getter]
    fn scheme<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match self.forwarded.scheme(&self.conn) {
            "https" => intern!(py, "https").clone(),
            _ => intern!(py, "http").clone(),
        }
    }

    #[getter]
    fn method<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        method_str(py, &self.method)
    }

    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        let raw = self.uri.path();
        if !raw.contains('%') {
            return PyString::new(py, raw);
        }
        PyString::new(py, &percent_decode_str(raw).decode_utf8_lossy())
    }

    #[getter]
    fn query_string<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        PyString::new(py, self.uri.query().unwrap_or(""))
    }

    #[getter]
    fn server(&self) -> &str {
        &self.conn.server
    }

    /// `host:port`; a client named by a trusted proxy has port 0.
    #[getter]
    fn client(&self) -> Cow<'_, str> {
        self.forwarded.client_name(&self.conn)
    }

    #[getter]
    fn headers(&self, py: Python<'_>) -> Py<RsgiHeaders> {
        self.headers.clone_ref(py)
    }

    #[getter]
    fn authority(&self) -> Option<&str> {
        self.uri.authority().map(|a| a.as_str())
    }

    fn __repr__(&self) -> String {
        format!("<RSGIScope {} {} {}>", self.proto, self.method, self.uri)
    }
}
