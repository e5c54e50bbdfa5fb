//! The `trusted_proxies` setting: `None` (`--no-proxy-headers`) or the entries of
//! `--forwarded-allow-ips`, validated and normalised by Python (`granian._forwarded_ips`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::http::forwarded::ProxyTrust;

impl FromPyObject<'_, '_> for ProxyTrust {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let entries: Vec<String> = obj.extract()?;
        ProxyTrust::parse(&entries).map_err(PyValueError::new_err)
    }
}
