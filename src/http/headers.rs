//! Response headers from Python: `[(name, value), ...]` with `str` (RSGI) or `bytes` (ASGI)
//! items, converted once into a `HeaderMap`.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

fn as_bytes<'a>(item: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a [u8]> {
    if let Ok(s) = item.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes());
    }
    if let Ok(b) = item.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    Err(PyValueError::new_err(format!(
        "response header {what} must be str or bytes, not {}",
        item.get_type().name()?
    )))
}

fn push_pair(map: &mut HeaderMap, pair: &Bound<'_, PyAny>) -> PyResult<()> {
    let (name, value) = if let Ok(t) = pair.cast::<PyTuple>() {
        if t.len() != 2 {
            return Err(PyValueError::new_err("response headers must be (name, value) pairs"));
        }
        (t.get_borrowed_item(0)?.to_owned(), t.get_borrowed_item(1)?.to_owned())
    } else {
        let (n, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
            .extract()
            .map_err(|_| PyValueError::new_err("response headers must be (name, value) pairs"))?;
        (n, v)
    };
    let name_b = as_bytes(&name, "name")?;
    let name = HeaderName::from_bytes(name_b).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid response header name: {:?}",
            String::from_utf8_lossy(name_b)
        ))
    })?;
    let value_b = as_bytes(&value, "value")?;
    let value = HeaderValue::from_bytes(value_b)
        .map_err(|_| PyValueError::new_err(format!("invalid value for response header {name}")))?;
    map.append(name, value);
    Ok(())
}

/// Request headers seen on most requests. Interfaces keep ready-made Python keys for these
/// (ASGI `bytes` names, WSGI `HTTP_*` environ keys) instead of building them per request.
pub(crate) static COMMON_REQUEST_HEADERS: [HeaderName; 22] = {
    use http::header::*;
    [
        HOST,
        USER_AGENT,
        ACCEPT,
        ACCEPT_ENCODING,
        ACCEPT_LANGUAGE,
        CONNECTION,
        CONTENT_TYPE,
        CONTENT_LENGTH,
        COOKIE,
        AUTHORIZATION,
        CACHE_CONTROL,
        ORIGIN,
        REFERER,
        TRANSFER_ENCODING,
        UPGRADE,
        IF_NONE_MATCH,
        IF_MODIFIED_SINCE,
        UPGRADE_INSECURE_REQUESTS,
        HeaderName::from_static("x-forwarded-for"),
        HeaderName::from_static("x-forwarded-proto"),
        HeaderName::from_static("x-requested-with"),
        HeaderName::from_static("x-real-ip"),
    ]
};

/// Converts a Python iterable of header pairs; fast path for lists.
pub(crate) fn headers_from_py(obj: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    if let Ok(list) = obj.cast::<PyList>() {
        for pair in list.iter() {
            push_pair(&mut map, &pair)?;
        }
    } else {
        for pair in obj.try_iter()? {
            push_pair(&mut map, &pair?)?;
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_str_and_bytes_pairs_in_order() {
        Python::attach(|py| {
            let list = PyList::new(
                py,
                [
                    ("Content-Type", "text/plain").into_pyobject(py).unwrap().into_any(),
                    (PyBytes::new(py, b"x-a"), PyBytes::new(py, b"1"))
                        .into_pyobject(py)
                        .unwrap()
                        .into_any(),
                    ("x-a", "2").into_pyobject(py).unwrap().into_any(),
                ],
            )
            .unwrap();
            let map = headers_from_py(list.as_any()).unwrap();
            assert_eq!(map["content-type"], "text/plain");
            let all: Vec<_> = map.get_all("x-a").iter().collect();
            assert_eq!(all, ["1", "2"]);
        });
    }

    #[test]
    fn rejects_invalid_names_and_shapes() {
        Python::attach(|py| {
            let bad = PyList::new(py, [("bad name", "v")]).unwrap();
            let err = headers_from_py(bad.as_any()).unwrap_err();
            assert!(err.to_string().contains("invalid response header name"));
            let bad = PyList::new(py, [("a", "b", "c")]).unwrap();
            assert!(headers_from_py(bad.as_any()).is_err());
            let bad = PyList::new(py, [("x", "a\nb")]).unwrap();
            assert!(headers_from_py(bad.as_any()).is_err());
        });
    }
}
