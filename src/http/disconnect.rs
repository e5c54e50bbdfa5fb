//! Client-disconnect notification: fired from tokio when a request's connection goes away
//! before its response is complete, observed from Python through awaitables.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use crate::bridge::{lock, Awaitable, Bridge};

pub(crate) struct Disconnect {
    fired: AtomicBool,
    /// The engine cut the request short because its body was malformed (and answered 400):
    /// what the app sees as a disconnect is the client's fault, not the app's.
    malformed: AtomicBool,
    /// Awaitables waiting for the event, each with the value it resolves to (loop thread only).
    waiters: Mutex<Vec<(Py<Awaitable>, Py<PyAny>)>>,
    bridge: Arc<Bridge>,
}

impl Disconnect {
    pub(crate) fn new(bridge: Arc<Bridge>) -> Arc<Self> {
        Arc::new(Self {
            fired: AtomicBool::new(false),
            malformed: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
            bridge,
        })
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    pub(crate) fn is_malformed(&self) -> bool {
        self.malformed.load(Ordering::Acquire)
    }

    /// Records that the request body was malformed (see `malformed`); the request flow fires
    /// the disconnect once it has answered 400.
    pub(crate) fn mark_malformed(&self) {
        self.malformed.store(true, Ordering::Release);
    }

    /// Marks the client as gone and wakes Python waiters. Any thread; idempotent.
    pub(crate) fn fire(self: &Arc<Self>) {
        if self.fired.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        self.bridge.push(Box::new(move |py, _| this.wake_waiters(py)));
    }

    fn wake_waiters(&self, py: Python<'_>) {
        let waiters = std::mem::take(&mut *lock(&self.waiters));
        for (w, value) in waiters {
            Awaitable::resolve(w.bind(py), Ok(value));
        }
    }

    /// An awaitable that finishes with `value` when the client disconnects (at once if it
    /// already did).
    pub(crate) fn wait<'py>(&self, py: Python<'py>, value: Py<PyAny>) -> PyResult<Bound<'py, Awaitable>> {
        if self.is_fired() {
            return Awaitable::ready(py, value);
        }
        let aw = Awaitable::pending(py)?;
        lock(&self.waiters).push((aw.clone().unbind(), value));
        // A fire racing with the push above has queued `wake_waiters`, which runs after us on
        // this same loop thread, so the waiter cannot be missed.
        Ok(aw)
    }
}

/// Lives in the request's service future: if hyper drops the future before the response head
/// was produced, the connection is gone.
pub(crate) struct DisconnectGuard(pub(crate) Option<Arc<Disconnect>>);

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.fire();
        }
    }
}
