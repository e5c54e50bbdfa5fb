//! Exceptions raised into application code. Everything the engine reports to the operator goes
//! through the Python logger instead (see `bridge::Bridge::log`).

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError};

create_exception!(
    granian._granian,
    RSGIProtocolError,
    PyRuntimeError,
    "RSGI API misuse: body read twice, a second response stream, ..."
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
