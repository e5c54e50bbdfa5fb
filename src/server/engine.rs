//! `Engine`: the Python handle on one worker's network engine.

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tokio::sync::watch;

use super::runtime;
use crate::access_log::AccessLog;
use crate::bridge::{lock, Bridge, PyCtx};
use crate::config::EngineConfig;
use crate::http::admission::Admission;
use crate::http::body_failure::BodyLimits;
use crate::http::conn::Protocols;
use crate::http::default_headers::DefaultHeaders;
use crate::http::drain::Drain;
use crate::http::handler::Shared;
use crate::http::max_requests::MaxRequests;
use crate::http::static_files::StaticFiles;
use crate::http::upgrade::Upgrade;
use crate::interfaces::asgi::Asgi;
use crate::interfaces::rsgi::Rsgi;
use crate::interfaces::wsgi::Wsgi;
use crate::metrics::Metrics;
use crate::ws::WebSockets;

/// Which application interface a worker serves: the adapter the engine plugs in. Named by the
/// Python interface module (`ENGINE_INTERFACE`); any other name is refused when `serve` is
/// called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InterfaceKind {
    Rsgi,
    Asgi,
    Wsgi,
}

impl<'a, 'py> FromPyObject<'a, 'py> for InterfaceKind {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<&str>()? {
            "rsgi" => Ok(Self::Rsgi),
            "asgi" => Ok(Self::Asgi),
            "wsgi" => Ok(Self::Wsgi),
            other => Err(PyValueError::new_err(format!(
                "unknown interface: {other:?} (expected 'rsgi', 'asgi' or 'wsgi')"
            ))),
        }
    }
}

/// Reads `settings` as `Engine(fd, settings)` does, without starting anything: the test that
/// Python's `Config.engine_settings()` and the engine's reader agree (`tests/unit/`).
#[pyfunction]
pub(crate) fn check_engine_settings(settings: &Bound<'_, PyAny>) -> PyResult<()> {
    EngineConfig::from_py(settings).map(drop)
}

struct Running {
    drain: Arc<Drain>,
    /// Lets the runtimes end (see `runtime::start`); dropping it does too.
    release: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

#[pyclass(frozen, module = "granian._granian")]
pub(crate) struct Engine {
    fd: RawFd,
    cfg: EngineConfig,
    bridge: Arc<Bridge>,
    ctx: PyOnceLock<PyCtx>,
    running: Mutex<Option<Running>>,
    /// Set when serving starts with `metrics` on.
    metrics: OnceLock<Arc<Metrics>>,
}

#[pymethods]
impl Engine {
    /// `settings`: the dict built by `Config.engine_settings()`; anything else (a key missing,
    /// left over or of the wrong type) is a `ValueError` naming the key.
    #[new]
    fn new(fd: RawFd, settings: &Bound<'_, PyAny>) -> PyResult<Self> {
        let cfg = EngineConfig::from_py(settings)?;
        let bridge = Bridge::new(cfg.log_level).map_err(|e| PyOSError::new_err(format!("eventfd: {e}")))?;
        Ok(Self {
            fd,
            cfg,
            bridge: Arc::new(bridge),
            ctx: PyOnceLock::new(),
            running: Mutex::new(None),
            metrics: OnceLock::new(),
        })
    }

    /// Starts serving. `interface` is `"rsgi"`, `"asgi"` or `"wsgi"`; `handler` is what the
    /// interface calls per request (for RSGI: `spawn(scope, protocol)`, which starts the app on
    /// the loop). `on_log(level, msg)`, `on_access(...)` (or None) and
    /// `on_stopped()` are called on the loop thread, and so is `on_max_requests()`, once, when
    /// the worker has served the `max_requests` of its settings (required when that is not 0).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (interface, event_loop, handler, on_log, on_access, on_stopped, on_max_requests=None))]
    fn serve(
        slf: &Bound<'_, Self>,
        interface: InterfaceKind,
        event_loop: &Bound<'_, PyAny>,
        handler: Py<PyAny>,
        on_log: Py<PyAny>,
        on_access: Option<Py<PyAny>>,
        on_stopped: Py<PyAny>,
        on_max_requests: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let this = slf.get();
        let py = slf.py();
        if this.cfg.max_requests > 0 && on_max_requests.is_none() {
            return Err(PyValueError::new_err(
                "the settings say max_requests: serve() needs an on_max_requests callback",
            ));
        }
        let ctx = PyCtx {
            event_loop: event_loop.clone().unbind(),
            handler,
            on_log,
            on_access: on_access.filter(|_| this.cfg.access_log),
            on_stopped,
            on_max_requests,
        };
        let access_log = ctx.on_access.is_some();
        if this.ctx.set(py, ctx).is_err() {
            return Err(PyRuntimeError::new_err("the engine was already started"));
        }
        crate::bridge::set_event_loop(event_loop);
        // The loop runs on this thread: see `sched` for why it changes policy. An embedded
        // server runs on its host program's thread and leaves that thread's policy alone.
        if this.cfg.sched_batch {
            super::sched::batch_current_thread();
        }
        event_loop.call_method1("add_reader", (this.bridge.fd(), slf.getattr("_drain")?))?;
        // WSGI has no WebSockets: an upgrade request is an ordinary request there.
        let websockets = this.cfg.websockets && interface != InterfaceKind::Wsgi;
        // The Python side's load: the WSGI pool's threads, or the event loop thread.
        let metrics = this.cfg.metrics.then(|| {
            let m = Arc::new(Metrics::new(interface != InterfaceKind::Wsgi));
            let _ = this.metrics.set(Arc::clone(&m));
            m
        });
        match interface {
            InterfaceKind::Rsgi => {
                if let Some(m) = &metrics {
                    this.bridge.watch(Arc::clone(&m.blocking));
                }
                this.start(Rsgi, access_log, websockets, metrics)
            }
            InterfaceKind::Asgi => {
                if let Some(m) = &metrics {
                    this.bridge.watch(Arc::clone(&m.blocking));
                }
                let root_path = this.cfg.url_path_prefix.clone().unwrap_or_default();
                this.start(Asgi { root_path }, access_log, websockets, metrics)
            }
            InterfaceKind::Wsgi => {
                let wsgi = Wsgi::new(py, this.ctx.get(py))?;
                if let Some(m) = &metrics {
                    wsgi.watch(Arc::clone(&m.blocking));
                }
                this.start(wsgi, access_log, websockets, metrics)
            }
        }
    }

    /// What the worker has recorded since it started serving (`--metrics`; `None` when off or
    /// not serving yet): a dict of counters and gauges, the request series and their bucket
    /// bounds. The worker sends it to the supervisor (see `docs/observability.md`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(m) = self.metrics.get() else {
            return Ok(None);
        };
        let counts = py.detach(|| m.counts());
        super::metrics_snapshot::to_dict(py, &counts, m.blocking()).map(Some)
    }

    /// Runs the queued jobs; registered with `loop.add_reader` on the bridge's eventfd.
    fn _drain(&self, py: Python<'_>) {
        if let Some(ctx) = self.ctx.get(py) {
            self.bridge.drain(py, ctx);
        }
    }

    /// Begins a graceful stop: no new connections, in-flight requests finish, idle keep-alive
    /// connections close, WebSockets are closed with 1001; what is still running at the
    /// graceful timeout is cut. `on_stopped` is called once no connection is left. Idempotent.
    fn stop(&self) {
        if let Some(r) = lock(&self.running).as_ref() {
            r.drain.stop();
        }
    }

    /// Lets the runtimes end (after `on_stopped`: until then they still serve what apps await,
    /// e.g. a cancelled task's last `send`), waits for their threads, runs the jobs they queued
    /// last (access lines, disconnect notices) and unregisters the eventfd.
    fn join(&self, py: Python<'_>) -> PyResult<()> {
        let threads = lock(&self.running).as_mut().map(|r| {
            r.release.send_replace(true);
            std::mem::take(&mut r.threads)
        });
        if let Some(threads) = threads {
            py.detach(|| {
                for t in threads {
                    let _ = t.join();
                }
            });
        }
        if let Some(ctx) = self.ctx.get(py) {
            self.bridge.drain(py, ctx);
            let _ = ctx.event_loop.call_method1(py, "remove_reader", (self.bridge.fd(),));
        }
        Ok(())
    }
}

impl Engine {
    fn websockets(&self, drain: &Arc<Drain>) -> Arc<WebSockets> {
        let cfg = &self.cfg;
        Arc::new(WebSockets::new(
            cfg.ws.clone(),
            cfg.write_timeout,
            Arc::clone(&self.bridge),
            Arc::clone(drain),
        ))
    }

    fn start<I: crate::http::handler::Interface>(
        &self,
        interface: I,
        access_log: bool,
        ws: bool,
        metrics: Option<Arc<Metrics>>,
    ) -> PyResult<()> {
        let drain = Drain::new(self.cfg.graceful_timeout);
        let static_files = match &self.cfg.static_files {
            Some(cfg) => Some(Arc::new(
                StaticFiles::new(cfg).map_err(|e| PyOSError::new_err(e.to_string()))?,
            )),
            None => None,
        };
        let access_log = if access_log {
            let cfg = &self.cfg;
            let log = AccessLog::new(&cfg.access_log_request_headers, &cfg.access_log_response_headers)
                .map_err(|e| PyValueError::new_err(format!("engine setting 'access_log_*_headers': {e}")))?;
            Some(Arc::new(log))
        } else {
            None
        };
        let shared = Arc::new(Shared {
            interface: Arc::new(interface),
            bridge: Arc::clone(&self.bridge),
            access_log,
            proxies: self.cfg.trusted_proxies.clone(),
            upgrade: ws.then(|| self.websockets(&drain) as Arc<dyn Upgrade>),
            admission: (self.cfg.limit_concurrency > 0).then(|| Admission::new(self.cfg.limit_concurrency)),
            max_requests: (self.cfg.max_requests > 0).then(|| self.max_requests()),
            body_limits: BodyLimits {
                max_size: self.cfg.max_body_size,
                read_timeout: self.cfg.body_read_timeout,
            },
            write_timeout: self.cfg.write_timeout,
            static_files,
            metrics,
        });
        let release = watch::channel(false).0;
        let bridge = Arc::clone(&self.bridge);
        let on_done = move || {
            bridge.push(Box::new(|py, ctx| {
                if let Err(e) = ctx.on_stopped.call0(py) {
                    e.print(py);
                }
            }));
        };
        let tls = match &self.cfg.tls {
            Some(t) => {
                Some(crate::tls::acceptor(t, self.cfg.http_mode).map_err(|e| PyValueError::new_err(e.to_string()))?)
            }
            None => None,
        };
        let defaults = DefaultHeaders::new(self.cfg.server_header, &self.cfg.response_headers)
            .map_err(|e| PyValueError::new_err(format!("engine setting 'response_headers': {e}")))?;
        let protocols = Protocols::new(&self.cfg, tls, ws, defaults);
        let threads = runtime::start(self.fd, &self.cfg, shared, protocols, &drain, &release, on_done)
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        *lock(&self.running) = Some(Running {
            drain,
            release,
            threads,
        });
        Ok(())
    }

    /// The request count of `--limit-max-requests`: reaching the limit queues one call of
    /// `on_max_requests` for the loop thread.
    fn max_requests(&self) -> MaxRequests {
        let bridge = Arc::clone(&self.bridge);
        MaxRequests::new(self.cfg.max_requests, move || {
            bridge.push(Box::new(|py, ctx| {
                if let Some(Err(e)) = ctx.on_max_requests.as_ref().map(|f| f.call0(py)) {
                    e.print(py);
                }
            }));
        })
    }
}
