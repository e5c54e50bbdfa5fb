//! Exceptions raised into application code. Everything the engine reports to the operator goes
//! through the Python logger instead (see `bridge::Bridge::log`).

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;

/// The type name of `obj`, for error messages (`got str`).
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

create_exception!(
    granian._granian,
    InterfaceError,
    PyRuntimeError,
    "An application broke the rules of its interface (ASGI, RSGI, WSGI): a message out of order, a second response, ..."
);
create_exception!(
    granian._granian,
    RSGIProtocolError,
    InterfaceError,
    "RSGI API misuse: body read twice, a second response stream, ..."
);
create_exception!(
    granian._granian,
    ASGIProtocolError,
    InterfaceError,
    "ASGI misuse: a message out of order or of an unknown type, a second accept, two receive() at once, ..."
);
create_exception!(
    granian._granian,
    WSGIProtocolError,
    InterfaceError,
    "WSGI misuse: a body before start_response(), start_response() twice without exc_info, ..."
);
create_exception!(
    granian._granian,
    RSGIProtocolClosed,
    PyRuntimeError,
    "The client connection is gone."
);
create_exception!(
    granian._granian,
    ClientDisconnected,
    PyOSError,
    "The client went away before the response was sent (an OSError, as ASGI 2.4 asks; WSGI raises it too)."
);
