//! Response status codes from Python: any `int` (an `http.HTTPStatus` included), 100-999.

use http::StatusCode;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use crate::error::type_name;

/// A status code given as a number (RSGI passes it as a call argument).
pub(crate) fn status_from_u16(status: u16) -> PyResult<StatusCode> {
    StatusCode::from_u16(status)
        .map_err(|_| PyValueError::new_err(format!("invalid HTTP status code: {status} (expected 100-999)")))
}

/// An ASGI `status` field; `origin` names the message in errors
/// (`http.response.start 'status': expected an int, got str`).
pub(crate) fn status_from_py(value: Option<Bound<'_, PyAny>>, origin: &str) -> PyResult<StatusCode> {
    let Some(value) = value else {
        return Err(PyValueError::new_err(format!("{origin} needs a 'status'")));
    };
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{origin} 'status': expected an int, got {}",
            type_name(&value)
        )));
    }
    let code = value.extract::<u16>().ok().and_then(|n| StatusCode::from_u16(n).ok());
    code.ok_or_else(|| {
        PyValueError::new_err(format!(
            "{origin} 'status': {value} is not a valid HTTP status code (expected 100-999)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::ffi::c_str;

    #[test]
    fn ints_and_http_status() {
        Python::attach(|py| {
            let ok = py
                .eval(c_str!("__import__('http').HTTPStatus.NOT_FOUND"), None, None)
                .unwrap();
            assert_eq!(status_from_py(Some(ok), "m").unwrap(), StatusCode::NOT_FOUND);
            let ok = py.eval(c_str!("201"), None, None).unwrap();
            assert_eq!(status_from_py(Some(ok), "m").unwrap(), StatusCode::CREATED);
        });
    }

    #[test]
    fn errors_name_the_field() {
        Python::attach(|py| {
            for (code, msg) in [
                (c_str!("'two hundred'"), "m 'status': expected an int, got str"),
                (c_str!("'200'"), "m 'status': expected an int, got str"),
                (c_str!("200.0"), "m 'status': expected an int, got float"),
                (c_str!("True"), "m 'status': expected an int, got bool"),
                (
                    c_str!("99"),
                    "m 'status': 99 is not a valid HTTP status code (expected 100-999)",
                ),
                (
                    c_str!("70000"),
                    "m 'status': 70000 is not a valid HTTP status code (expected 100-999)",
                ),
                (
                    c_str!("-1"),
                    "m 'status': -1 is not a valid HTTP status code (expected 100-999)",
                ),
            ] {
                let value = py.eval(code, None, None).unwrap();
                let err = status_from_py(Some(value), "m").unwrap_err();
                assert_eq!(err.value(py).to_string(), msg);
            }
            let err = status_from_py(None, "m").unwrap_err();
            assert_eq!(err.value(py).to_string(), "m needs a 'status'");
            assert!(status_from_u16(1000).is_err());
        });
    }
}
