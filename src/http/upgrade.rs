//! Switching protocols after an HTTP request: the hook the request flow calls, implemented
//! outside the HTTP engine (by `crate::ws` for WebSockets, over the HTTP/1.1 `Upgrade`
//! handshake and HTTP/2 extended CONNECT alike). The engine knows only that a request may ask
//! to switch, that the app decides, and that the hook then builds the response.

use std::any::Any;

use http::{Request, Response};
use hyper::body::Incoming;

use super::admission::Permit;
use super::body::ResponseBody;

/// A protocol a request may switch to.
pub(crate) trait Upgrade: Send + Sync + 'static {
    /// `None`: `req` does not ask to switch. `Some(Err(why))`: it asks, but malformed (answered
    /// 400 without asking the app).
    fn prepare(&self, req: &mut Request<Incoming>) -> Option<Result<Box<dyn Prepared>, String>>;
}

/// A switch prepared from the request, waiting for the app's decision.
pub(crate) trait Prepared: Send {
    /// The app agreed: `accepted` is what its interface put in
    /// [`super::response::ResponsePlan::Switch`]. Returns the response that switches and starts
    /// whatever serves the connection next (once hyper hands it over). `permit` (the request's
    /// place under `--limit-concurrency`) is held by that session and given back when it ends.
    fn switch(self: Box<Self>, accepted: Box<dyn Any + Send>, permit: Option<Permit>) -> Response<ResponseBody>;
}
