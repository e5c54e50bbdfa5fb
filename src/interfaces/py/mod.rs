//! The Python face every interface adapter shares: response headers, bodies and status codes
//! from Python objects, method names as Python strings, the disconnect as an awaitable. The
//! HTTP engine (`crate::http`) never sees a Python object; this is where they are converted.

pub(crate) mod body;
pub(crate) mod bytes;
pub(crate) mod disconnect;
pub(crate) mod headers;
pub(crate) mod method;
pub(crate) mod proxy;
pub(crate) mod status;
