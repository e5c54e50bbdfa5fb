//! RSGI request headers: a read-only, case-insensitive mapping over hyper's `HeaderMap`.

use http::header::{HeaderMap, HeaderValue};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

#[pyclass(frozen, mapping, module = "granian._granian", name = "RSGIHeaders")]
pub(crate) struct RsgiHeaders {
    map: HeaderMap,
}

fn value_str<'py>(py: Python<'py>, v: &HeaderValue) -> Bound<'py, PyString> {
    match v.to_str() {
        Ok(s) => PyString::new(py, s),
        Err(_) => PyString::new(py, &String::from_utf8_lossy(v.as_bytes())),
    }
}

impl RsgiHeaders {
    pub(crate) fn new(map: HeaderMap) -> Self {
        Self { map }
    }
}

#[pymethods]
impl RsgiHeaders {
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(&self, py: Python<'py>, key: &str, default: Option<Bound<'py, PyAny>>) -> Bound<'py, PyAny> {
        match self.map.get(key) {
            Some(v) => value_str(py, v).into_any(),
            None => default.unwrap_or_else(|| py.None().into_bound(py)),
        }
    }

    fn get_all<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.map.get_all(key).iter().map(|v| value_str(py, v)))
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyString>> {
        self.map
            .get(key)
            .map(|v| value_str(py, v))
            .ok_or_else(|| PyKeyError::new_err(key.to_string()))
    }

    fn __contains__(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn __len__(&self) -> usize {
        self.map.keys_len()
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.map.keys().map(|k| k.as_str()))
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.map.values().map(|v| value_str(py, v)))
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.map.iter().map(|(k, v)| (k.as_str(), value_str(py, v))))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys(py)?.try_iter().map(|it| it.into_any())
    }

    fn __repr__(&self) -> String {
        let items: Vec<String> = self
            .map
            .iter()
            .map(|(k, v)| format!("{:?}: {:?}", k.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect();
        format!("RSGIHeaders({{{}}})", items.join(", "))
    }
}
