//! A worker's metrics as the Python dict `Engine.metrics()` returns: plain ints, floats, strings
//! and lists, ready for `json.dumps` (the worker sends it to the supervisor as is).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::metrics::histogram::{DURATION_BOUNDS, SIZE_BOUNDS};
use crate::metrics::labels::{METHODS, VERSIONS};
use crate::metrics::{Counts, TimeoutKind};

pub(super) fn to_dict<'py>(
    py: Python<'py>,
    c: &Counts,
    (threads, queue, busy_us, idle_us, wait_us): (i64, i64, u64, u64, u64),
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("connections_active", c.connections_active)?;
    d.set_item("connections_handled", c.connections_handled)?;
    d.set_item("connections_err", c.connections_err)?;
    d.set_item("requests_handled", c.requests_handled)?;
    d.set_item("requests_active", c.requests_active)?;
    d.set_item("static_handled", c.static_handled)?;
    d.set_item("static_err", c.static_err)?;
    d.set_item("overload_refused", c.overload_refused)?;
    let timeouts = PyDict::new(py);
    for (name, n) in TimeoutKind::NAMES.iter().zip(c.timeouts.iter()) {
        timeouts.set_item(name, n)?;
    }
    d.set_item("timeouts", timeouts)?;
    d.set_item("ws_active", c.ws_active)?;
    d.set_item("ws_messages_in", c.ws_messages_in)?;
    d.set_item("ws_messages_out", c.ws_messages_out)?;
    d.set_item("blocking_threads", threads)?;
    d.set_item("blocking_queue", queue)?;
    d.set_item("blocking_busy_us", busy_us)?;
    d.set_item("blocking_idle_us", idle_us)?;
    d.set_item("py_wait_us", wait_us)?;
    d.set_item("duration_bounds", DURATION_BOUNDS.to_vec())?;
    d.set_item("size_bounds", SIZE_BOUNDS.to_vec())?;
    let requests = PyList::empty(py);
    for s in &c.requests {
        requests.append((
            METHODS[usize::from(s.method)],
            s.status,
            VERSIONS[usize::from(s.version)],
            (s.duration.buckets(), s.duration.sum()),
            (s.request_size.buckets(), s.request_size.sum()),
            (s.response_size.buckets(), s.response_size.sum()),
        ))?;
    }
    d.set_item("requests", requests)?;
    Ok(d)
}
