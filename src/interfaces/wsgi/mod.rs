//! WSGI (PEP 3333) over the shared HTTP engine.
//!
//! Unlike RSGI and ASGI, requests never go through the event loop: `dispatch` (a tokio thread,
//! no GIL) queues them on a pool of Python threads (`pool`), each attached to the interpreter
//! for its whole life. A pool thread builds `environ` (`environ`), calls the application, and
//! sends what it returns (`run`, `response`, `file`); `wsgi.input` (`input`) pulls the body
//! from the connection while the thread waits with the GIL released.
//!
//! `granian.wsgi.setup` builds a [`WsgiPool`] (the application, the constant part of `environ`,
//! the pool limits) and passes it to `Engine.serve` as the handler; the worker calls
//! `WsgiPool.shutdown(timeout)` once the engine has stopped. A thread still inside the
//! application after that timeout cannot be stopped: the worker then exits without finalising
//! the interpreter (see `granian.server.worker`).

mod environ;
mod file;
mod head;
mod input;
mod response;
mod rules;
mod run;

pub(crate) use input::WsgiInput;
pub(crate) use response::StartResponse;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use crate::bridge::pool::{Pool, SubmitError, Worker};
use crate::bridge::{lock, Level, PyCtx};
use crate::http::handler::{Interface, RequestCtx};
use run::AppObjects;

/// What every pool thread runs.
struct WsgiWorker {
    /// Taken (and dropped with the GIL) by `WsgiPool.shutdown()`.
    objects: Mutex<Option<AppObjects>>,
    /// `--url-path-prefix` as bytes (`/a/b`: the config normalises it); empty when unset.
    prefix: Vec<u8>,
}

impl Worker for WsgiWorker {
    type Job = RequestCtx;
    type Local = AppObjects;

    fn init(&self, py: Python<'_>) -> Option<AppObjects> {
        // `threading.current_thread().name` (and so `%(threadName)s` in log records) is the OS
        // thread's name instead of `Dummy-N`.
        if let Some(name) = std::thread::current().name() {
            let named = py
                .import(intern!(py, "threading"))
                .and_then(|m| m.call_method0(intern!(py, "current_thread")))
                .and_then(|t| t.setattr(intern!(py, "name"), name));
            if let Err(e) = named {
                e.print(py);
            }
        }
        lock(&self.objects).as_ref().map(|o| o.clone_ref(py))
    }

    fn run(&self, py: Python<'_>, local: &AppObjects, job: RequestCtx) {
        run::run(py, local, &self.prefix, job);
    }
}

/// The WSGI application of a worker and the thread pool that runs it.
#[pyclass(frozen, module = "granian._granian", name = "WSGIPool")]
pub(crate) struct WsgiPool {
    pool: Arc<Pool<WsgiWorker>>,
}

#[pymethods]
impl WsgiPool {
    /// `app`: the WSGI callable; `environ`: the keys every request shares (copied per
    /// request); `file_wrapper`: the `wsgi.file_wrapper` class; `report`: logs an
    /// application failure (`report(exc, refused, disconnected)`); `threads`: the most pool threads; `idle_timeout`: seconds before
    /// an idle thread stops; `url_path_prefix`: the mount point (`SCRIPT_NAME`).
    #[new]
    #[pyo3(signature = (app, environ, file_wrapper, report, threads, idle_timeout, url_path_prefix=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        app: Py<PyAny>,
        environ: Py<PyDict>,
        file_wrapper: Py<PyType>,
        report: Py<PyAny>,
        threads: usize,
        idle_timeout: f64,
        url_path_prefix: Option<&str>,
    ) -> PyResult<Self> {
        if threads == 0 {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        let idle = Duration::try_from_secs_f64(idle_timeout)
            .map_err(|_| PyValueError::new_err(format!("invalid idle_timeout: {idle_timeout}")))?;
        // Normalised by the config (`/a/b`, or unset).
        let prefix = url_path_prefix.unwrap_or("").as_bytes().to_vec();
        let worker = WsgiWorker {
            objects: Mutex::new(Some(AppObjects {
                app,
                environ,
                file_wrapper,
                report,
            })),
            prefix,
        };
        Ok(Self {
            pool: Pool::new(worker, threads, idle, "granian-wsgi"),
        })
    }

    /// Threads alive now.
    #[getter]
    fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Stops the pool: each thread finishes its request, then exits. Returns when all have,
    /// or after `timeout` seconds (`None`: no limit) with the number of threads still inside
    /// the application: those cannot be stopped and are left to finish on their own.
    #[pyo3(signature = (timeout=None))]
    fn shutdown(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        let timeout = timeout
            .map(|t| Duration::try_from_secs_f64(t.max(0.0)))
            .transpose()
            .map_err(|_| PyValueError::new_err(format!("invalid timeout: {timeout:?}")))?;
        let (dropped, left) = py.detach(|| self.pool.shutdown(timeout));
        drop(dropped);
        let objects = lock(&self.pool.worker().objects).take();
        drop(objects);
        Ok(left)
    }
}

/// The engine side: hands requests to the pool.
pub(crate) struct Wsgi {
    pool: Arc<Pool<WsgiWorker>>,
}

impl Wsgi {
    /// From the handler given to `Engine.serve`, which must be a `WSGIPool`.
    pub(crate) fn new(py: Python<'_>, ctx: Option<&PyCtx>) -> PyResult<Self> {
        let handler = ctx.map(|c| c.handler.bind(py));
        let pool = handler
            .and_then(|h| h.cast::<WsgiPool>().ok())
            .ok_or_else(|| PyTypeError::new_err("the wsgi interface needs a WSGIPool handler"))?;
        Ok(Self {
            pool: Arc::clone(&pool.get().pool),
        })
    }

    /// Reports the pool's load into `stats` (`--metrics`).
    pub(crate) fn watch(&self, stats: Arc<crate::metrics::BlockingStats>) {
        self.pool.watch(stats);
    }
}

impl Interface for Wsgi {
    fn dispatch(self: Arc<Self>, req: RequestCtx) {
        let bridge = Arc::clone(&req.bridge);
        match self.pool.submit(req) {
            Ok(()) => {}
            // Shutting down: dropping the request answers it with a 500.
            Err(SubmitError::Stopped(req)) => drop(req),
            Err(SubmitError::Spawn(e)) => bridge.log(Level::Error, || format!("cannot start a WSGI thread: {e}")),
        }
    }
}
