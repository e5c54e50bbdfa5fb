//! Response body chunks from Python objects.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// Bodies at least this large are shared with Python instead of copied.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Copies small bodies; shares large ones with Python (released on the next GIL acquisition).
pub(crate) fn bytes_from_py(body: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = body.cast::<PyBytes>() {
        let data = b.as_bytes();
        if data.len() < ZERO_COPY_MIN {
            return Ok(Bytes::copy_from_slice(data));
        }
        return Ok(Bytes::from_owner(pyo3::pybacked::PyBackedBytes::from(b.clone())));
    }
    if let Ok(s) = body.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(s.to_str()?.as_bytes()));
    }
    let v: Vec<u8> = body.extract()?;
    Ok(Bytes::from(v))
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
}
