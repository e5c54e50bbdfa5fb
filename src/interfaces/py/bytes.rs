//! Response body chunks from Python objects.

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::headers::{bytes_like, Items};
use crate::error::type_name;

/// Bodies at least this large are shared with Python instead of copied.
const ZERO_COPY_MIN: usize = 16 * 1024;

fn from_bytes(b: &Bound<'_, PyBytes>) -> Bytes {
    let data = b.as_bytes();
    if data.len() < ZERO_COPY_MIN {
        return Bytes::copy_from_slice(data);
    }
    Bytes::from_owner(pyo3::pybacked::PyBackedBytes::from(b.clone()))
}

/// An RSGI body: `bytes` (small ones copied, large ones shared with Python until the next GIL
/// acquisition), `str` (UTF-8), or another bytes-like object (copied).
pub(crate) fn bytes_from_py(body: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = body.cast::<PyBytes>() {
        return Ok(from_bytes(b));
    }
    if let Ok(s) = body.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(s.to_str()?.as_bytes()));
    }
    match bytes_like(body, Items::Bytes)? {
        Some(b) => Ok(Bytes::from(b.into_owned())),
        None => Err(PyTypeError::new_err(format!(
            "expected bytes or str, got {}",
            type_name(body)
        ))),
    }
}

/// An ASGI byte-string field (`body`, `bytes`): bytes-like, or missing / `None` for empty.
/// `origin` and `field` name it in the error (`http.response.body 'body': expected bytes, got str`).
pub(crate) fn asgi_bytes(value: Option<Bound<'_, PyAny>>, origin: &str, field: &str) -> PyResult<Bytes> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Bytes::new());
    };
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(from_bytes(b));
    }
    match bytes_like(&value, Items::Bytes)? {
        Some(b) => Ok(Bytes::from(b.into_owned())),
        None => Err(PyTypeError::new_err(format!(
            "{origin} '{field}': expected bytes, got {}",
            type_name(&value)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_bytes_str_and_bytearray() {
        Python::attach(|py| {
            let small = PyBytes::new(py, b"abc");
            assert_eq!(bytes_from_py(small.as_any()).unwrap(), Bytes::from_static(b"abc"));
            let big = PyBytes::new(py, &vec![7u8; ZERO_COPY_MIN + 1]);
            assert_eq!(bytes_from_py(big.as_any()).unwrap().len(), ZERO_COPY_MIN + 1);
            let s = PyString::new(py, "h\u{e9}");
            assert_eq!(&bytes_from_py(s.as_any()).unwrap()[..], "h\u{e9}".as_bytes());
            let ba = pyo3::types::PyByteArray::new(py, b"xy");
            assert_eq!(&bytes_from_py(ba.as_any()).unwrap()[..], b"xy");
            assert!(bytes_from_py(py.None().bind(py)).is_err());
        });
    }

    #[test]
    fn asgi_fields_are_bytes_like_only() {
        Python::attach(|py| {
            let mv = py
                .eval(pyo3::ffi::c_str!("memoryview(b'hello')[1:4]"), None, None)
                .unwrap();
            assert_eq!(&asgi_bytes(Some(mv), "m", "body").unwrap()[..], b"ell");
            assert!(asgi_bytes(None, "m", "body").unwrap().is_empty());
            assert!(asgi_bytes(Some(py.None().into_bound(py)), "m", "body")
                .unwrap()
                .is_empty());
            let err = asgi_bytes(Some(PyString::new(py, "x").into_any()), "http.response.body", "body").unwrap_err();
            assert_eq!(
                err.value(py).to_string(),
                "http.response.body 'body': expected bytes, got str"
            );
        });
    }
}
