//! Thin adapters from the engine's request to each application interface.

pub(crate) mod asgi;
pub(crate) mod py;
pub(crate) mod rsgi;
pub(crate) mod wsgi;

use std::sync::Arc;

use pyo3::prelude::*;

use crate::bridge::PyCtx;
use crate::http::handler::{Interface, RequestCtx};

/// Interfaces whose app runs on the worker's event loop: requests travel through the bridge.
pub(crate) trait LoopInterface: Send + Sync + 'static {
    /// Runs on the loop thread with the GIL held: builds the request objects, starts the app.
    fn start(&self, py: Python<'_>, ctx: &PyCtx, req: RequestCtx);
}

impl<T: LoopInterface> Interface for T {
    fn dispatch(self: Arc<Self>, req: RequestCtx) {
        let bridge = Arc::clone(&req.bridge);
        bridge.push(Box::new(move |py, pyctx| self.start(py, pyctx, req)));
    }
}
