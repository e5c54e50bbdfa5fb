//! Request method names as Python strings: the common ones interned once per interpreter, so a
//! request's scope or environ shares them instead of allocating a new `str`.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

pub(crate) fn method_str<'py>(py: Python<'py>, m: &http::Method) -> Bound<'py, PyString> {
    match *m {
        http::Method::GET => intern!(py, "GET").clone(),
        http::Method::POST => intern!(py, "POST").clone(),
        http::Method::HEAD => intern!(py, "HEAD").clone(),
        http::Method::PUT => intern!(py, "PUT").clone(),
        http::Method::PATCH => intern!(py, "PATCH").clone(),
        http::Method::DELETE => intern!(py, "DELETE").clone(),
        http::Method::OPTIONS => intern!(py, "OPTIONS").clone(),
        _ => PyString::new(py, m.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_methods_are_shared_and_others_spelled_out() {
        Python::attach(|py| {
            let a = method_str(py, &http::Method::GET);
            let b = method_str(py, &http::Method::GET);
            assert!(a.is(&b), "GET is interned");
            assert_eq!(method_str(py, &http::Method::DELETE).to_str().unwrap(), "DELETE");
            let custom = http::Method::from_bytes(b"PURGE").unwrap();
            assert_eq!(method_str(py, &custom).to_str().unwrap(), "PURGE");
        });
    }
}
