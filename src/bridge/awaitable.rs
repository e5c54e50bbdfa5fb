//! `Awaitable`: a Rust object that Python code can `await`, and that an asyncio Task accepts
//! as a future.
//!
//! When the value is already known (body prefetched, room in a send queue) `await` finishes
//! at once by raising `StopIteration(value)`: no loop round trip. Otherwise it behaves as an
//! asyncio future (`_asyncio_future_blocking`, `add_done_callback`, `cancel`, `result`, ...),
//! and is resolved on the loop thread by a bridge job, which schedules the callbacks with
//! `loop.call_soon(cb, fut, context=ctx)` exactly as `asyncio.Future` does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use pyo3::{intern, IntoPyObjectExt};

use super::lock;

type Callback = (Py<PyAny>, Option<Py<PyAny>>);

enum State {
    Pending(Vec<Callback>),
    Done(Py<PyAny>),
    Failed(PyErr),
    Cancelled,
}

#[pyclass(frozen, freelist = 256, module = "granian._granian")]
pub(crate) struct Awaitable {
    state: Mutex<State>,
    blocking: AtomicBool,
    /// Stops the Rust work behind a pending awaitable when Python cancels it.
    abort: Mutex<Option<tokio::task::AbortHandle>>,
}

/// The event loop of the engine serving in this process, set when an engine starts. A later
/// engine on another loop (an embedded server started again under a new `asyncio.run`)
/// replaces it: one serving loop at a time per process.
static EVENT_LOOP: Mutex<Option<Py<PyAny>>> = Mutex::new(None);
static DONE_NONE: PyOnceLock<Py<Awaitable>> = PyOnceLock::new();
static CANCELLED_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub(crate) fn set_event_loop(event_loop: &Bound<'_, PyAny>) {
    let previous = lock(&EVENT_LOOP).replace(event_loop.clone().unbind());
    drop(previous); // outside the lock: dropping a loop object may run Python code
}

fn event_loop(py: Python<'_>) -> PyResult<Py<PyAny>> {
    lock(&EVENT_LOOP)
        .as_ref()
        .map(|l| l.clone_ref(py))
        .ok_or_else(|| PyRuntimeError::new_err("granian: no event loop bound to the engine"))
}

fn cancelled_error(py: Python<'_>) -> PyResult<PyErr> {
    let cls = CANCELLED_ERROR.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("asyncio")?.getattr("CancelledError")?.unbind())
    })?;
    Ok(PyErr::from_value(cls.bind(py).call0()?))
}

impl Awaitable {
    fn with_state(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            blocking: AtomicBool::new(false),
            abort: Mutex::new(None),
        }
    }

    /// An awaitable that already holds its value.
    pub(crate) fn ready<'py>(py: Python<'py>, value: Py<PyAny>) -> PyResult<Bound<'py, Self>> {
        Bound::new(py, Self::with_state(State::Done(value)))
    }

    /// An awaitable that raises `err` when awaited (an error the caller must see at `await`).
    pub(crate) fn failed(py: Python<'_>, err: PyErr) -> PyResult<Bound<'_, Self>> {
        Bound::new(py, Self::with_state(State::Failed(err)))
    }

    /// `result` as what `await` sees: the awaitable itself, or one that raises its error. For
    /// callables whose every error must come out of `await` (ASGI `send`).
    pub(crate) fn raise_on_await<'py>(
        py: Python<'py>,
        result: PyResult<Bound<'py, Self>>,
    ) -> PyResult<Bound<'py, Self>> {
        result.or_else(|err| Self::failed(py, err))
    }

    /// One shared, immutable awaitable whose value is `None` (the result of a completed send).
    pub(crate) fn done_none(py: Python<'_>) -> PyResult<Bound<'_, Self>> {
        let obj = DONE_NONE.get_or_try_init(py, || -> PyResult<Py<Self>> {
            Ok(Self::ready(py, py.None())?.unbind())
        })?;
        Ok(obj.bind(py).clone())
    }

    /// An awaitable to be resolved later from a bridge job.
    pub(crate) fn pending(py: Python<'_>) -> PyResult<Bound<'_, Self>> {
        Bound::new(py, Self::with_state(State::Pending(Vec::new())))
    }

    pub(crate) fn set_abort(&self, handle: tokio::task::AbortHandle) {
        *lock(&self.abort) = Some(handle);
    }

    /// Moves a pending awaitable to its final state; returns the callbacks to schedule, or
    /// `None` when it was already settled.
    fn settle(&self, new: State) -> Option<Vec<Callback>> {
        let mut st = lock(&self.state);
        let State::Pending(cbs) = &mut *st else { return None };
        let cbs = std::mem::take(cbs);
        *st = new;
        Some(cbs)
    }

    /// Completes a pending awaitable (no-op when it was cancelled meanwhile). Loop thread only.
    pub(crate) fn resolve(slf: &Bound<'_, Self>, result: PyResult<Py<PyAny>>) {
        let py = slf.py();
        let new = match result {
            Ok(v) => State::Done(v),
            Err(e) => State::Failed(e),
        };
        let Some(callbacks) = slf.get().settle(new) else { return };
        lock(&slf.get().abort).take();
        schedule(py, slf.as_any(), callbacks);
    }
}

fn schedule(py: Python<'_>, fut: &Bound<'_, PyAny>, callbacks: Vec<Callback>) {
    if callbacks.is_empty() {
        return;
    }
    let Ok(event_loop) = event_loop(py) else { return };
    let event_loop = event_loop.bind(py);
    for (cb, ctx) in callbacks {
        let res = match ctx {
            Some(ctx) => {
                let kw = PyDict::new(py);
                let _ = kw.set_item(intern!(py, "context"), ctx);
                event_loop.call_method(intern!(py, "call_soon"), (cb, fut), Some(&kw))
            }
            None => event_loop.call_method1(intern!(py, "call_soon"), (cb, fut)),
        };
        if let Err(err) = res {
            err.print(py);
        }
    }
}

#[pymethods]
impl Awaitable {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(slf: Bound<'_, Self>) -> PyResult<Option<Bound<'_, Self>>> {
        let py = slf.py();
        let st = lock(&slf.get().state);
        match &*st {
            State::Pending(_) => {
                drop(st);
                slf.get().blocking.store(true, Ordering::Relaxed);
                Ok(Some(slf))
            }
            State::Done(v) => Err(PyStopIteration::new_err((v.clone_ref(py),))),
            State::Failed(e) => Err(e.clone_ref(py)),
            State::Cancelled => Err(cancelled_error(py)?),
        }
    }

    fn send<'py>(slf: Bound<'py, Self>, _value: Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, Self>>> {
        Self::__next__(slf)
    }

    #[getter(_asyncio_future_blocking)]
    fn get_blocking(&self) -> bool {
        self.blocking.load(Ordering::Relaxed)
    }

    #[setter(_asyncio_future_blocking)]
    fn set_blocking(&self, value: bool) {
        self.blocking.store(value, Ordering::Relaxed);
    }

    fn get_loop(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        event_loop(py)
    }

    fn done(&self) -> bool {
        !matches!(&*lock(&self.state), State::Pending(_))
    }

    fn cancelled(&self) -> bool {
        matches!(&*lock(&self.state), State::Cancelled)
    }

    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &*lock(&self.state) {
            State::Pending(_) => Err(invalid_state(py, "Result is not set.")),
            State::Done(v) => Ok(v.clone_ref(py)),
            State::Failed(e) => Err(e.clone_ref(py)),
            State::Cancelled => Err(cancelled_error(py)?),
        }
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &*lock(&self.state) {
            State::Pending(_) => Err(invalid_state(py, "Exception is not set.")),
            State::Done(_) => Ok(py.None()),
            State::Failed(e) => e.value(py).clone().into_py_any(py),
            State::Cancelled => Err(cancelled_error(py)?),
        }
    }

    #[pyo3(signature = (callback, *, context=None))]
    fn add_done_callback(slf: Bound<'_, Self>, callback: Py<PyAny>, context: Option<Py<PyAny>>) {
        let py = slf.py();
        {
            let mut st = lock(&slf.get().state);
            if let State::Pending(cbs) = &mut *st {
                cbs.push((callback, context));
                return;
            }
        }
        schedule(py, slf.as_any(), vec![(callback, context)]);
    }

    fn remove_done_callback(&self, py: Python<'_>, callback: Bound<'_, PyAny>) -> usize {
        let mut st = lock(&self.state);
        let State::Pending(cbs) = &mut *st else { return 0 };
        let before = cbs.len();
        cbs.retain(|(cb, _)| !cb.bind(py).eq(&callback).unwrap_or(false));
        before - cbs.len()
    }

    #[pyo3(signature = (msg=None))]
    fn cancel(slf: Bound<'_, Self>, msg: Option<Bound<'_, PyAny>>) -> bool {
        let _ = msg;
        let Some(callbacks) = slf.get().settle(State::Cancelled) else {
            return false;
        };
        if let Some(handle) = lock(&slf.get().abort).take() {
            handle.abort();
        }
        schedule(slf.py(), slf.as_any(), callbacks);
        true
    }

    fn __repr__(&self) -> &'static str {
        match &*lock(&self.state) {
            State::Pending(_) => "<granian Awaitable pending>",
            State::Cancelled => "<granian Awaitable cancelled>",
            _ => "<granian Awaitable finished>",
        }
    }
}

fn invalid_state(py: Python<'_>, msg: &str) -> PyErr {
    match py
        .import("asyncio")
        .and_then(|m| m.getattr("InvalidStateError"))
        .and_then(|cls| cls.call1((msg,)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}
