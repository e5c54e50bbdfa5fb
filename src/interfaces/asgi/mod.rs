//! ASGI 3 (HTTP): the scope dict and the `receive`/`send` protocol over the shared engine.

mod http_phase;
mod protocol;
mod scope;
mod ws;
mod ws_phase;

pub(crate) use protocol::AsgiHttpProtocol;
pub(crate) use ws::AsgiWsProtocol;

use pyo3::prelude::*;

use crate::bridge::{Level, PyCtx};
use crate::http::handler::RequestCtx;
use crate::interfaces::LoopInterface;

pub(crate) struct Asgi {
    /// `root_path` of every scope (`--url-path-prefix`), `""` when unset.
    pub(crate) root_path: String,
}

impl LoopInterface for Asgi {
    fn start(&self, py: Python<'_>, ctx: &PyCtx, req: RequestCtx) {
        let bridge = req.bridge.clone();
        let res = (|| -> PyResult<()> {
            let scope = scope::build(py, &req, &self.root_path)?;
            let proto = if req.upgrade {
                Bound::new(py, AsgiWsProtocol::new(req))?.into_any()
            } else {
                Bound::new(py, AsgiHttpProtocol::new(req))?.into_any()
            };
            ctx.handler.call1(py, (scope, proto))?;
            Ok(())
        })();
        if let Err(err) = res {
            bridge.log(Level::Error, || format!("could not start the application: {err}"));
        }
    }
}
