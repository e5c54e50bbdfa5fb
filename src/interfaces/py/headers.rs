//! Response headers from Python, converted once into a `HeaderMap`.
//!
//! Apps write headers in every shape their spec allows: ASGI says
//! `Iterable[[byte string, byte string]]`, so lists of lists, tuples, generators and
//! `bytearray`/`memoryview` items all occur in real code; RSGI apps pass `str` pairs as lists or
//! tuples. The fast path (a list of 2-tuples of `bytes`/`str`) costs what it always did; the other
//! shapes go through the generic sequence protocol. A wrong shape is a precise error that names
//! where the headers came from (`http.response.start`, `response_str`, ...) and the index.

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PySequence, PyString, PyTuple};

use crate::error::type_name;

/// What the name and value of a header pair may be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Items {
    /// Bytes-like only (`bytes`, `bytearray`, `memoryview`): ASGI.
    Bytes,
    /// `str` (sent as its UTF-8 bytes) or bytes-like: RSGI.
    Text,
}

impl Items {
    fn describe(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Text => "str",
        }
    }
}

/// The bytes of a bytes-like object (`bytes` borrowed; `bytearray`, `memoryview` copied), or of a
/// `str` when `items` allows text. `None` for anything else.
pub(crate) fn bytes_like<'a>(obj: &'a Bound<'_, PyAny>, items: Items) -> PyResult<Option<Cow<'a, [u8]>>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Some(Cow::Borrowed(b.as_bytes())));
    }
    if items == Items::Text {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Some(Cow::Borrowed(s.to_str()?.as_bytes())));
        }
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Some(Cow::Owned(b.to_vec())));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let buf = PyBuffer::<u8>::get(obj)?;
        return Ok(Some(Cow::Owned(buf.to_vec(obj.py())?)));
    }
    Ok(None)
}

/// The two items of a header pair: a 2-tuple, a 2-list, or any other 2-item sequence that is not
/// itself text or bytes.
fn pair_items<'py>(pair: &Bound<'py, PyAny>) -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    if let Ok(t) = pair.cast::<PyTuple>() {
        if t.len() != 2 {
            return Ok(None);
        }
        return Ok(Some((t.get_item(0)?, t.get_item(1)?)));
    }
    if let Ok(l) = pair.cast::<PyList>() {
        if l.len() != 2 {
            return Ok(None);
        }
        return Ok(Some((l.get_item(0)?, l.get_item(1)?)));
    }
    if pair.is_instance_of::<PyString>() || pair.is_instance_of::<PyBytes>() || pair.is_instance_of::<PyByteArray>() {
        return Ok(None);
    }
    let Ok(seq) = pair.cast::<PySequence>() else {
        return Ok(None);
    };
    if seq.len()? != 2 {
        return Ok(None);
    }
    Ok(Some((seq.get_item(0)?, seq.get_item(1)?)))
}

/// Converts one header pair and appends it (same-name headers keep their order).
fn push_pair(map: &mut HeaderMap, pair: &Bound<'_, PyAny>, items: Items, origin: &str, index: usize) -> PyResult<()> {
    let Some((name, value)) = pair_items(pair)? else {
        return Err(PyTypeError::new_err(format!(
            "{origin} 'headers'[{index}]: expected a [name, value] pair of {}, got {}",
            items.describe(),
            type_name(pair),
        )));
    };
    let wrong = |what: &str, obj: &Bound<'_, PyAny>| {
        PyTypeError::new_err(format!(
            "{origin} 'headers'[{index}]: expected a [name, value] pair of {}, got a {what} of type {}",
            items.describe(),
            type_name(obj),
        ))
    };
    let Some(name_b) = bytes_like(&name, items)? else {
        return Err(wrong("name", &name));
    };
    let Some(value_b) = bytes_like(&value, items)? else {
        return Err(wrong("value", &value));
    };
    let name = HeaderName::from_bytes(&name_b).map_err(|_| {
        PyValueError::new_err(format!(
            "{origin} 'headers'[{index}]: invalid header name {:?}",
            String::from_utf8_lossy(&name_b)
        ))
    })?;
    let value = HeaderValue::from_bytes(&value_b).map_err(|_| {
        PyValueError::new_err(format!(
            "{origin} 'headers'[{index}]: invalid value for header '{name}' (control characters are not allowed)"
        ))
    })?;
    map.append(name, value);
    Ok(())
}

/// Converts a Python iterable of header pairs (`None` = no headers). `origin` names where they
/// came from in error messages. Fast path for lists.
pub(crate) fn headers_from_py(obj: &Bound<'_, PyAny>, items: Items, origin: &str) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    if obj.is_none() {
        return Ok(map);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        for (i, pair) in list.iter().enumerate() {
            push_pair(&mut map, &pair, items, origin, i)?;
        }
        return Ok(map);
    }
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Err(not_iterable(obj, items, origin));
    }
    let iter = obj.try_iter().map_err(|_| not_iterable(obj, items, origin))?;
    for (i, pair) in iter.enumerate() {
        push_pair(&mut map, &pair?, items, origin, i)?;
    }
    Ok(map)
}

fn not_iterable(obj: &Bound<'_, PyAny>, items: Items, origin: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{origin} 'headers': expected an iterable of [name, value] pairs of {}, got {}",
        items.describe(),
        type_name(obj)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::ffi::c_str;

    fn eval<'py>(py: Python<'py>, code: &std::ffi::CStr) -> Bound<'py, PyAny> {
        py.eval(code, None, None).unwrap()
    }

    fn pairs(map: &HeaderMap) -> Vec<(String, String)> {
        map.iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn every_shape_the_asgi_spec_allows() {
        Python::attach(|py| {
            let want = vec![
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("x-a".to_owned(), "1".to_owned()),
                ("x-a".to_owned(), "2".to_owned()),
            ];
            for code in [
                c_str!("[(b'content-type', b'text/plain'), (b'x-a', b'1'), (b'x-a', b'2')]"),
                c_str!("[[b'content-type', b'text/plain'], [b'x-a', b'1'], [b'x-a', b'2']]"),
                c_str!("([b'Content-Type', b'text/plain'], (b'x-a', b'1'), [b'x-a', b'2'])"),
                c_str!("(p for p in [(b'content-type', b'text/plain'), (b'x-a', b'1'), (b'x-a', b'2')])"),
                c_str!("[(bytearray(b'content-type'), memoryview(b'text/plain')), (b'x-a', bytearray(b'1')), (memoryview(b'x-a'), b'2')]"),
                c_str!("[__import__('collections').namedtuple('H', 'n v')(b'content-type', b'text/plain'), (b'x-a', b'1'), (b'x-a', b'2')]"),
            ] {
                let map = headers_from_py(&eval(py, code), Items::Bytes, "http.response.start").unwrap();
                assert_eq!(pairs(&map), want, "{code:?}");
            }
            assert!(headers_from_py(&py.None().into_bound(py), Items::Bytes, "x")
                .unwrap()
                .is_empty());
            assert!(headers_from_py(&eval(py, c_str!("[]")), Items::Bytes, "x")
                .unwrap()
                .is_empty());
        });
    }

    #[test]
    fn rsgi_text_pairs_as_lists_or_tuples() {
        Python::attach(|py| {
            for code in [
                c_str!("[('content-type', 'text/plain'), ('x-a', '1')]"),
                c_str!("[['content-type', 'text/plain'], ['x-a', '1']]"),
                c_str!("[('content-type', b'text/plain'), [b'x-a', '1']]"),
            ] {
                let map = headers_from_py(&eval(py, code), Items::Text, "response_str").unwrap();
                assert_eq!(map["content-type"], "text/plain");
                assert_eq!(map["x-a"], "1");
            }
        });
    }

    #[test]
    fn wrong_shapes_name_origin_field_and_index() {
        Python::attach(|py| {
            let cases: [(&std::ffi::CStr, Items, &str); 9] = [
                (
                    c_str!("[(b'a', b'1'), ('b', '2')]"),
                    Items::Bytes,
                    "http.response.start 'headers'[1]: expected a [name, value] pair of bytes, got a name of type str",
                ),
                (
                    c_str!("['content-type']"),
                    Items::Bytes,
                    "http.response.start 'headers'[0]: expected a [name, value] pair of bytes, got str",
                ),
                (
                    c_str!("[(b'a', b'1', b'2')]"),
                    Items::Bytes,
                    "http.response.start 'headers'[0]: expected a [name, value] pair of bytes, got tuple",
                ),
                (
                    c_str!("[b'ab']"),
                    Items::Bytes,
                    "http.response.start 'headers'[0]: expected a [name, value] pair of bytes, got bytes",
                ),
                (
                    c_str!("[(b'a', 1)]"),
                    Items::Bytes,
                    "http.response.start 'headers'[0]: expected a [name, value] pair of bytes, got a value of type int",
                ),
                (
                    c_str!("5"),
                    Items::Bytes,
                    "http.response.start 'headers': expected an iterable of [name, value] pairs of bytes, got int",
                ),
                (
                    c_str!("'content-type'"),
                    Items::Text,
                    "http.response.start 'headers': expected an iterable of [name, value] pairs of str, got str",
                ),
                (
                    c_str!("[('bad name', 'v')]"),
                    Items::Text,
                    "http.response.start 'headers'[0]: invalid header name \"bad name\"",
                ),
                (
                    c_str!("[('x', 'a\\nb')]"),
                    Items::Text,
                    "http.response.start 'headers'[0]: invalid value for header 'x'",
                ),
            ];
            for (code, items, msg) in cases {
                let err = headers_from_py(&eval(py, code), items, "http.response.start").unwrap_err();
                let text = err.value(py).to_string();
                assert!(text.starts_with(msg), "{code:?}: {text}");
            }
        });
    }
}
