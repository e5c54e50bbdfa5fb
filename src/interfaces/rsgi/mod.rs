//! RSGI: scope and protocol objects over the shared HTTP engine.

mod body;
mod headers;
mod protocol;
mod scope;
mod ws;
mod ws_phase;

pub(crate) use body::RsgiBodyIter;
pub(crate) use headers::RsgiHeaders;
pub(crate) use protocol::{RsgiHttpProtocol, RsgiStreamTransport};
pub(crate) use scope::RsgiScope;
pub(crate) use ws::{RsgiWsMessage, RsgiWsProtocol, RsgiWsTransport};

use pyo3::prelude::*;

use crate::bridge::{Level, PyCtx};
use crate::http::handler::RequestCtx;
use crate::interfaces::LoopInterface;

pub(crate) struct Rsgi;

impl LoopInterface for Rsgi {
    fn start(&self, py: Python<'_>, ctx: &PyCtx, req: RequestCtx) {
        let bridge = req.bridge.clone();
        let res = (|| -> PyResult<()> {
            let (scope, proto) = scope::split(py, req)?;
            ctx.handler.call1(py, (scope, proto))?;
            Ok(())
        })();
        if let Err(err) = res {
            // The responder was dropped with the protocol object: the client gets a 500.
            bridge.log(Level::Error, || format!("could not start the application: {err}"));
        }
    }
}
