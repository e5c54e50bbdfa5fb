//! Exceptions raised into application code. Everything the engine reports to the operator goes
//! through the Python logger instead (see `bridge::Bridge::log`).
//!
//! The engine's own errors are an [`Error`]: an application breaking its interface's rules, or
//! a client that is gone. `From<Error> for PyErr` is the one place that maps them to the
//! exception classes below (values of the wrong type or out of range stay Python's own
//! `TypeError` / `ValueError`, raised where the value is read).

use std::borrow::Cow;

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

/// The interface whose rules an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Iface {
    Asgi,
    Rsgi,
    Wsgi,
}

/// An error the engine raises into an application.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// The app broke its interface's rules: a message out of order, a second response, a body
    /// read twice, ...
    Misuse(Iface, Cow<'static, str>),
    /// The client went away: an `OSError` (`ClientDisconnected`) for ASGI, as ASGI 2.4 asks,
    /// and WSGI; RSGI's own `ProtocolClosed` for RSGI.
    ClientGone(Iface, Cow<'static, str>),
}

impl From<Error> for PyErr {
    fn from(err: Error) -> Self {
        match err {
            Error::Misuse(Iface::Asgi, msg) => ASGIProtocolError::new_err(msg.into_owned()),
            Error::Misuse(Iface::Rsgi, msg) => RSGIProtocolError::new_err(msg.into_owned()),
            Error::Misuse(Iface::Wsgi, msg) => WSGIProtocolError::new_err(msg.into_owned()),
            Error::ClientGone(Iface::Rsgi, msg) => RSGIProtocolClosed::new_err(msg.into_owned()),
            Error::ClientGone(Iface::Asgi | Iface::Wsgi, msg) => ClientDisconnected::new_err(msg.into_owned()),
        }
    }
}

/// `iface`'s misuse error with `msg`, as the exception it is raised as.
pub(crate) fn misuse(iface: Iface, msg: impl Into<Cow<'static, str>>) -> PyErr {
    Error::Misuse(iface, msg.into()).into()
}

/// The error a send or read raises once the client is gone.
pub(crate) fn client_gone(iface: Iface, msg: impl Into<Cow<'static, str>>) -> PyErr {
    Error::ClientGone(iface, msg.into()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_exception_class() {
        Python::attach(|py| {
            let cases: [(Error, &str, bool); 6] = [
                (Error::Misuse(Iface::Asgi, "m".into()), "ASGIProtocolError", false),
                (Error::Misuse(Iface::Rsgi, "m".into()), "RSGIProtocolError", false),
                (Error::Misuse(Iface::Wsgi, "m".into()), "WSGIProtocolError", false),
                (Error::ClientGone(Iface::Asgi, "m".into()), "ClientDisconnected", true),
                (Error::ClientGone(Iface::Wsgi, "m".into()), "ClientDisconnected", true),
                (Error::ClientGone(Iface::Rsgi, "m".into()), "RSGIProtocolClosed", false),
            ];
            for (err, class, os_error) in cases {
                let py_err = PyErr::from(err);
                assert_eq!(py_err.get_type(py).name().unwrap().to_string(), class);
                assert_eq!(py_err.is_instance_of::<PyOSError>(py), os_error, "{class}");
                assert_eq!(py_err.value(py).to_string(), "m");
                let misuse = py_err.is_instance_of::<InterfaceError>(py);
                assert_eq!(misuse, class.ends_with("ProtocolError"), "{class}");
            }
        });
    }
}
