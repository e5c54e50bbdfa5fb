//! One WSGI request on a pool thread: build `environ`, call the application, send what it
//! returns, always call `close()`, and turn failures into a 500 plus a logged traceback.

use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple, PyType};

use super::environ;
use super::file;
use super::input::WsgiInput;
use super::response::{Pushed, StartResponse};
use crate::bridge::Level;
use crate::error::{type_name, ClientDisconnected};
use crate::http::handler::RequestCtx;

/// Lists and tuples of several items with more bytes than this are streamed item by item
/// instead of being joined into one body (a single item is always sent whole).
const JOIN_LIMIT: usize = 256 * 1024;

/// The Python objects a pool thread uses for every request (each thread holds its own
/// references, dropped with the GIL when it exits).
pub(super) struct AppObjects {
    pub(super) app: Py<PyAny>,
    /// The constant part of `environ`, copied per request.
    pub(super) environ: Py<PyDict>,
    /// `wsgi.file_wrapper`: results of exactly this type may be sent by the engine.
    pub(super) file_wrapper: Py<PyType>,
    /// `report(exc, refused, disconnected)`: logs an application failure
    /// (`granian._failure.FailureReporter`).
    pub(super) report: Py<PyAny>,
}

impl AppObjects {
    pub(super) fn clone_ref(&self, py: Python<'_>) -> Self {
        Self {
            app: self.app.clone_ref(py),
            environ: self.environ.clone_ref(py),
            file_wrapper: self.file_wrapper.clone_ref(py),
            report: self.report.clone_ref(py),
        }
    }
}

fn not_bytes(item: &Bound<'_, PyAny>) -> PyErr {
    let name = type_name(item);
    PyTypeError::new_err(format!("the WSGI response iterable must yield bytes, got {name}"))
}

/// The whole body of a list or tuple result when it is small enough to send in one piece.
fn joined_sequence(it: &Bound<'_, PyAny>) -> PyResult<Option<Bytes>> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = it.cast_exact::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = it.cast_exact::<PyTuple>() {
        t.iter().collect()
    } else {
        return Ok(None);
    };
    let mut chunks = Vec::with_capacity(items.len());
    for item in &items {
        chunks.push(item.cast::<PyBytes>().map_err(|_| not_bytes(item))?.as_bytes());
    }
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    if total == 0 {
        return Ok(None);
    }
    if let [one] = chunks[..] {
        return Ok(Some(Bytes::copy_from_slice(one)));
    }
    if total > JOIN_LIMIT {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(total);
    for c in chunks {
        buf.extend_from_slice(c);
    }
    Ok(Some(Bytes::from(buf)))
}

/// Sends the application's result: engine-side file, one full body, or a stream.
fn send_result(objs: &AppObjects, sr: &StartResponse, it: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = it.py();
    if sr.is_pending() && it.get_type().is(objs.file_wrapper.bind(py)) {
        if let Some(body) = file::body_of(it, sr.content_length())? {
            return sr.send_body(body);
        }
    }
    if sr.is_pending() {
        if let Some(body) = joined_sequence(it)? {
            if sr.send_full(body)? {
                return Ok(());
            }
        }
    }
    for item in it.try_iter()? {
        let item = item?;
        let chunk = item.cast::<PyBytes>().map_err(|_| not_bytes(&item))?;
        if sr.push(py, chunk.as_bytes())? != Pushed::More {
            break;
        }
    }
    Ok(())
}

/// PEP 3333: the server calls the result's `close()` when it is done with it, whatever happened.
fn close(it: &Bound<'_, PyAny>) -> PyResult<()> {
    if it.is_exact_instance_of::<PyList>() || it.is_exact_instance_of::<PyTuple>() {
        return Ok(());
    }
    if let Some(close) = it.getattr_opt(intern!(it.py(), "close"))? {
        close.call0()?;
    }
    Ok(())
}

/// Answers an application failure (500, or an aborted stream) and has it logged by the
/// worker's failure reporter (`granian._failure`: the one rule for every interface).
fn report(py: Python<'_>, objs: &AppObjects, sr: &StartResponse, err: PyErr) {
    sr.fail();
    // `wsgi.input` raises `ClientDisconnected` when the upload broke off: the client is gone
    // even if no response write noticed it yet.
    let gone = sr.client_gone() || err.is_instance_of::<ClientDisconnected>(py);
    let reported = objs.report.call1(py, (err.into_value(py), sr.body_refused(), gone));
    if let Err(e) = reported {
        e.print(py);
    }
}

pub(super) fn run(py: Python<'_>, objs: &AppObjects, prefix: &[u8], req: RequestCtx) {
    let RequestCtx {
        head,
        body,
        responder,
        disconnect,
        conn,
        forwarded,
        rt,
        bridge,
        write_timeout,
        upgrade: _,
    } = req;
    if disconnect.is_fired() {
        bridge.log(Level::Debug, || {
            "WSGI request dropped before the application ran: the client went away".to_string()
        });
        return;
    }
    let sr = StartResponse::new(
        responder,
        Arc::clone(&disconnect),
        rt.clone(),
        Arc::clone(&bridge),
        write_timeout,
    );
    let sr = match Bound::new(py, sr) {
        Ok(sr) => sr,
        Err(e) => {
            e.print(py);
            return;
        }
    };
    let input = match Bound::new(py, WsgiInput::new(body, rt)) {
        Ok(i) => i,
        Err(e) => return report(py, objs, sr.get(), e),
    };
    let called = (|| -> PyResult<Bound<'_, PyAny>> {
        let env = environ::build(py, objs.environ.bind(py), &head, &conn, forwarded, prefix)?;
        env.set_item(intern!(py, "wsgi.input"), &input)?;
        objs.app.bind(py).call1((env, &sr))
    })();
    match called {
        Err(e) => report(py, objs, sr.get(), e),
        Ok(it) => {
            let sent = send_result(objs, sr.get(), &it);
            let closed = close(&it);
            let done = match (sent, closed) {
                (Err(first), Err(second)) => {
                    report(py, objs, sr.get(), first);
                    Err(second)
                }
                (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
                (Ok(()), Ok(())) => sr.get().finish(),
            };
            if let Err(e) = done {
                report(py, objs, sr.get(), e);
            }
        }
    }
    input.get().release();
}
