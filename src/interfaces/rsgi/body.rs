//! `async for chunk in protocol`: the RSGI request body as it arrives.

use std::sync::Arc;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bridge::Awaitable;
use crate::error::{client_gone, Iface};
use crate::interfaces::py::body::{AsyncBody, Read};

/// The error of a read whose upload broke off.
pub(super) fn body_broken(why: &str) -> PyErr {
    client_gone(Iface::Rsgi, format!("request body: {why}"))
}

/// The async iterator returned by `protocol.__aiter__()`.
#[pyclass(frozen, module = "granian._granian", name = "RSGIBodyIter")]
pub(crate) struct RsgiBodyIter {
    body: Arc<AsyncBody>,
}

impl RsgiBodyIter {
    pub(super) fn new(body: Arc<AsyncBody>) -> Self {
        Self { body }
    }
}

#[pymethods]
impl RsgiBodyIter {
    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Awaitable>> {
        self.body.read(py, false, |py, read| match read {
            // An empty body yields no chunk at all.
            Read::Chunk { data, .. } if !data.is_empty() => Ok(PyBytes::new(py, &data).into_any().unbind()),
            Read::Chunk { .. } | Read::End => Err(PyStopAsyncIteration::new_err(())),
            Read::Broken(e) => Err(body_broken(&e)),
        })
    }
}
