//! The request flow shared by every interface: read a small body ahead, hand the request to
//! the loop thread, wait for the app's response, log the access line. Interfaces only say how
//! to turn a [`RequestCtx`] into their app call.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use pyo3::prelude::*;

use super::body::{RequestBody, ResponseBody};
use super::disconnect::{Disconnect, DisconnectGuard};
use super::response::{internal_error, status_only, without_body, Responder, ResponsePlan};
use crate::access_log::AccessFacts;
use crate::bridge::{Bridge, Level, Outbox, PyCtx};
use crate::net::ConnInfo;
use crate::ws::WsConfig;

/// Everything an interface needs to serve one request, moved to the loop thread.
pub(crate) struct RequestCtx {
    pub(crate) head: http::request::Parts,
    pub(crate) body: RequestBody,
    pub(crate) responder: Responder,
    pub(crate) disconnect: Arc<Disconnect>,
    pub(crate) conn: Arc<ConnInfo>,
    /// The runtime serving the connection: where the app's I/O requests are spawned.
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) bridge: Arc<Bridge>,
    /// A WebSocket handshake: the app accepts with [`ResponsePlan::WebSocket`] or answers
    /// with an ordinary response (a refusal).
    pub(crate) websocket: bool,
}

/// An application interface (RSGI, ASGI, WSGI): hands a request to the app.
pub(crate) trait Interface: Send + Sync + 'static {
    /// Called on a runtime thread; must not take the GIL. The app answers through
    /// `req.responder`; dropping it yields a 500.
    fn dispatch(self: Arc<Self>, req: RequestCtx);
}

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

/// Per-worker state shared by all connections of an interface.
pub(crate) struct Shared<I> {
    pub(crate) interface: Arc<I>,
    pub(crate) bridge: Arc<Bridge>,
    pub(crate) access_log: bool,
    /// WebSocket settings; `None` when upgrades are served as plain HTTP (`--no-ws`, WSGI).
    pub(crate) ws: Option<Arc<WsConfig>>,
}

/// Serves one request. A WebSocket handshake (when the interface takes them) is checked first
/// (a malformed one is a 400 without the app); the app then accepts it, and the session starts
/// once hyper has switched protocols, or answers like any request (a refusal).
pub(crate) async fn handle<I: Interface>(
    mut req: Request<Incoming>,
    conn: Arc<ConnInfo>,
    shared: Arc<Shared<I>>,
    outbox: Arc<Outbox>,
) -> Result<Response<ResponseBody>, Infallible> {
    let started = Instant::now();
    let ws = match shared.ws.as_ref() {
        Some(cfg) if crate::ws::is_upgrade(&req) => match crate::ws::handshake(&mut req, cfg) {
            Ok(hs) => Some((hs, Arc::clone(cfg))),
            Err(e) => {
                shared
                    .bridge
                    .log(Level::Debug, || format!("invalid WebSocket handshake: {e}"));
                return Ok(status_only(
                    StatusCode::BAD_REQUEST,
                    b"Bad Request: invalid WebSocket handshake",
                ));
            }
        },
        _ => None,
    };
    let (head, body) = req.into_parts();
    if head.version == http::Version::HTTP_11 && !head.headers.contains_key(http::header::HOST) {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is malformed.
        return Ok(status_only(
            StatusCode::BAD_REQUEST,
            b"Bad Request: missing Host header",
        ));
    }
    let h2 = head.version == http::Version::HTTP_2;
    let head_on_h2 = h2 && head.method == http::Method::HEAD;
    let access = shared
        .access_log
        .then(|| AccessFacts::new(&head, &conn, SystemTime::now()));
    let mut body = if ws.is_some() {
        RequestBody::Full(bytes::Bytes::new())
    } else {
        match RequestBody::prefetch(body, &head.headers).await {
            Ok(b) => b,
            Err(_) => return Ok(status_only(StatusCode::BAD_REQUEST, b"Bad Request")),
        }
    };
    let (tx, rx) = Responder::new(outbox);
    let disconnect = Disconnect::new(Arc::clone(&shared.bridge));
    let malformed = match &mut body {
        RequestBody::Stream(s) => Some(s.on_malformed(Arc::clone(&disconnect))),
        RequestBody::Full(_) => None,
    };
    let mut guard = DisconnectGuard(Some(Arc::clone(&disconnect)));
    let ctx = RequestCtx {
        head,
        body,
        responder: tx,
        disconnect,
        conn,
        rt: tokio::runtime::Handle::current(),
        bridge: Arc::clone(&shared.bridge),
        websocket: ws.is_some(),
    };
    Arc::clone(&shared.interface).dispatch(ctx);
    // The app's answer (`Err`: it dropped its responder without answering), or `None` when the
    // request body turned out malformed before the app answered.
    let answer = match malformed {
        None => Some(rx.await),
        Some(mut malformed) => {
            tokio::pin!(rx);
            let answer = tokio::select! {
                biased;
                // The body the app was reading is broken (e.g. bad chunked framing) and the app
                // has not answered yet: the request is the client's fault, not the app's.
                Ok(()) = &mut malformed => None,
                answer = &mut rx => Some(answer),
            };
            // An app that gave up (or answered) because its read failed did so after the body
            // was found malformed: the 400 wins over its 500.
            match answer {
                Some(_) if malformed.try_recv().is_ok() => None,
                answer => answer,
            }
        }
    };
    let resp = match (answer, ws) {
        (Some(Ok(ResponsePlan::WebSocket(accept))), Some((hs, cfg))) => {
            crate::ws::accepted(hs, accept, cfg, Arc::clone(&shared.bridge))
        }
        (Some(Ok(plan)), _) if head_on_h2 => without_body(plan.into_response().await),
        (Some(Ok(plan)), _) => plan.into_response().await,
        (Some(Err(_)), _) => internal_error(),
        (None, _) => {
            // The app is told its client is gone (it stops quietly); a late answer is dropped.
            if let Some(d) = guard.0.take() {
                d.fire();
            }
            shared
                .bridge
                .log(Level::Debug, || "malformed request body: answered 400".to_owned());
            let mut resp = status_only(StatusCode::BAD_REQUEST, b"Bad Request: malformed request body");
            if !h2 {
                // hyper stops reading a connection whose body framing broke: say it closes.
                resp.headers_mut()
                    .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
            }
            resp
        }
    };
    // The head is out of the app's hands now; a streaming body watches the client itself.
    guard.0.take();
    let Some(facts) = access else { return Ok(resp) };
    // The access line is written when the body is over, so that its duration covers a streamed
    // body too (and a response whose client left is still logged).
    let status = resp.status().as_u16();
    let bridge = Arc::clone(&shared.bridge);
    Ok(resp.map(|body| body.on_end(move || facts.emit(&bridge, status, started.elapsed()))))
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
