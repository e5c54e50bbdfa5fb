//! The request flow shared by every interface: read a small body ahead, hand the request to
//! the loop thread, wait for the app's response, log the access line. Interfaces only say how
//! to turn a [`RequestCtx`] into their app call.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response, StatusCode};
use http_body::Body as _;
use hyper::body::Incoming;

use super::admission::{Admission, Permit, Refused};
use super::answer::{wait_answer, Outcome};
use super::body::{RequestBody, ResponseBody};
use super::body_failure::{self, BodyFailure, BodyLimits};
use super::disconnect::{Disconnect, DisconnectGuard};
use super::forwarded::{self, Forwarded, ProxyTrust};
use super::max_requests::MaxRequests;
use super::response::{internal_error, status_only, without_body, Responder, ResponsePlan};
use super::static_files::StaticFiles;
use super::stream_task;
use super::upgrade::Upgrade;
use crate::access_log::{AccessFacts, AccessLog};
use crate::bridge::{Bridge, Level, Outbox};
use crate::metrics;
use crate::net::ConnInfo;

/// Everything an interface needs to serve one request, moved to the loop thread.
pub(crate) struct RequestCtx {
    pub(crate) head: http::request::Parts,
    pub(crate) body: RequestBody,
    pub(crate) responder: Responder,
    pub(crate) disconnect: Arc<Disconnect>,
    pub(crate) conn: Arc<ConnInfo>,
    /// What a trusted proxy said about the client and scheme: interfaces report the client
    /// and scheme through it (`Forwarded::client_addr`, `Forwarded::scheme`, ...).
    pub(crate) forwarded: Forwarded,
    /// The runtime serving the connection: where the app's I/O requests are spawned.
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) bridge: Arc<Bridge>,
    /// `--write-timeout` (`None`: off): how long a streamed response's producer waits for room
    /// in its queue before the response is cut (`body::wait_for_room`).
    pub(crate) write_timeout: Option<Duration>,
    /// The request asks to switch protocols (a WebSocket handshake): the app agrees with
    /// [`ResponsePlan::Switch`] or answers with an ordinary response (a refusal).
    pub(crate) upgrade: bool,
}

/// An application interface (RSGI, ASGI, WSGI): hands a request to the app.
pub(crate) trait Interface: Send + Sync + 'static {
    /// Called on a runtime thread; must not take the GIL. The app answers through
    /// `req.responder`; dropping it yields a 500.
    fn dispatch(self: Arc<Self>, req: RequestCtx);
}

/// Per-worker state shared by all connections of an interface.
pub(crate) struct Shared<I> {
    pub(crate) interface: Arc<I>,
    pub(crate) bridge: Arc<Bridge>,
    /// `--access-log`: the headers its lines read; `None` when off (no facts are gathered).
    pub(crate) access_log: Option<Arc<AccessLog>>,
    /// Whose proxy headers are applied (`--forwarded-allow-ips`); `None`: `--no-proxy-headers`.
    pub(crate) proxies: Option<ProxyTrust>,
    /// The protocol requests may switch to; `None` when switching is off (`--no-ws`, WSGI):
    /// such requests are served as plain HTTP.
    pub(crate) upgrade: Option<Arc<dyn Upgrade>>,
    /// `--limit-concurrency`, `None` when off.
    pub(crate) admission: Option<Arc<Admission>>,
    /// `--limit-max-requests`, `None` when off.
    pub(crate) max_requests: Option<MaxRequests>,
    /// `--max-body-size`, `--body-read-timeout`.
    pub(crate) body_limits: BodyLimits,
    /// `--write-timeout`, for streamed responses (see [`RequestCtx::write_timeout`]).
    pub(crate) write_timeout: Option<Duration>,
    /// `--static-path-*`: requests under a static route are answered here, without the app.
    pub(crate) static_files: Option<Arc<StaticFiles>>,
    /// `--metrics`: every runtime thread records into it (see [`metrics::enter`]).
    pub(crate) metrics: Option<Arc<metrics::Metrics>>,
}

#[cfg(test)]
impl<I> Shared<I> {
    /// A worker's shared state for tests: `interface` behind `bridge`, every option off (tests
    /// set the ones they need with struct update syntax).
    pub(crate) fn for_test(interface: I, bridge: Arc<Bridge>) -> Self {
        Self {
            interface: Arc::new(interface),
            bridge,
            access_log: None,
            proxies: None,
            upgrade: None,
            admission: None,
            max_requests: None,
            body_limits: BodyLimits::default(),
            write_timeout: None,
            static_files: None,
            metrics: None,
        }
    }
}

/// Serves one request. A request asking to switch protocols (when the worker serves an
/// [`Upgrade`]) is prepared first (a malformed one is a 400 without the app); the app then
/// agrees, and the upgrade hook builds the switching response, or answers like any request (a
/// refusal). Beyond `--limit-concurrency` a request is refused before anything else (see
/// [`super::admission`]: `Err` only on HTTP/2); an admitted one holds its permit until its
/// response body is over, or, once switched, until the upgrade's session ends.
pub(crate) async fn handle<I: Interface>(
    mut req: Request<Incoming>,
    conn: Arc<ConnInfo>,
    shared: Arc<Shared<I>>,
    outbox: Arc<Outbox>,
) -> Result<Response<ResponseBody>, Refused> {
    let started = Instant::now();
    let rec = metrics::Request::start(req.method(), req.version(), req.body().size_hint().exact(), started);
    let mut permit = match shared.admission.as_ref().map(|a| (a, a.try_admit())) {
        None => None,
        Some((_, Some(permit))) => Some(permit),
        Some((admission, None)) => {
            // HTTP/1: a 503, access-logged like any answer; HTTP/2: the stream is refused
            // (`Err`), which leaves no response to log.
            metrics::record(|c| c.overload_refused += 1);
            let resp = admission.refuse(req.version(), &shared.bridge)?;
            let access = shared.access_log.as_ref().map(|log| {
                let (head, _) = req.into_parts();
                let forwarded = forwarded::for_request(shared.proxies.as_ref(), &conn, &head.headers);
                log.facts(&head, &conn, forwarded, SystemTime::now())
            });
            return Ok(logged(resp, access, None, rec, &shared, started));
        }
    };
    if let Some(max) = &shared.max_requests {
        max.count();
    }
    let switch = match shared.upgrade.as_ref().and_then(|u| u.prepare(&mut req)) {
        None => None,
        Some(Ok(prepared)) => Some(prepared),
        Some(Err(e)) => {
            shared.bridge.log(Level::Debug, || e);
            let resp = status_only(StatusCode::BAD_REQUEST, b"Bad Request: invalid upgrade request");
            return Ok(logged(resp, None, None, rec, &shared, started));
        }
    };
    let (head, body) = req.into_parts();
    if head.version == http::Version::HTTP_11 && !head.headers.contains_key(http::header::HOST) {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is malformed.
        let resp = status_only(StatusCode::BAD_REQUEST, b"Bad Request: missing Host header");
        return Ok(logged(resp, None, None, rec, &shared, started));
    }
    let h2 = head.version == http::Version::HTTP_2;
    let head_on_h2 = h2 && head.method == http::Method::HEAD;
    let forwarded = forwarded::for_request(shared.proxies.as_ref(), &conn, &head.headers);
    let access = shared
        .access_log
        .as_ref()
        .map(|log| log.facts(&head, &conn, forwarded, SystemTime::now()));
    if let Some(files) = &shared.static_files {
        if let Some(target) = files.target(head.uri.path()) {
            let resp = files.serve(target, &head.uri, &head.method, &head.headers).await;
            if !files.falls_through(&resp) {
                let err = resp.status().is_client_error() || resp.status().is_server_error();
                metrics::record(|c| {
                    c.static_handled += 1;
                    c.static_err += u64::from(err);
                });
                return Ok(logged(resp, access, permit, rec, &shared, started));
            }
        }
    }
    let mut body = if switch.is_some() {
        RequestBody::Full(bytes::Bytes::new())
    } else {
        match RequestBody::prefetch(body, &head.headers, shared.body_limits, h2).await {
            Ok(b) => b,
            Err(failure) => {
                let resp = refuse(&shared.bridge, failure, h2);
                return Ok(logged(resp, access, permit, rec, &shared, started));
            }
        }
    };
    let (tx, rx) = Responder::new(outbox);
    let disconnect = Disconnect::new();
    let refused = match &mut body {
        RequestBody::Stream(s) => Some(s.on_refused(Arc::clone(&disconnect))),
        RequestBody::Full(_) => None,
    };
    let mut guard = DisconnectGuard(Some(Arc::clone(&disconnect)));
    let ctx = RequestCtx {
        head,
        body,
        responder: tx,
        disconnect,
        conn,
        forwarded,
        rt: tokio::runtime::Handle::current(),
        bridge: Arc::clone(&shared.bridge),
        write_timeout: shared.write_timeout,
        upgrade: switch.is_some(),
    };
    Arc::clone(&shared.interface).dispatch(ctx);
    let resp = match (wait_answer(rx, refused).await, switch) {
        (
            Outcome::Answer {
                answer: Ok(ResponsePlan::Switch(accepted)),
                ..
            },
            Some(prepared),
        ) => prepared.switch(accepted, permit.take()),
        (
            Outcome::Answer {
                answer: Ok(plan),
                watch,
            },
            _,
        ) => {
            let mut resp = plan.into_response().await;
            if head_on_h2 {
                resp = without_body(resp);
            }
            match watch {
                // The body is still being read: a refusal from now on cuts the response.
                Some(refused) => resp.map(|b| b.cut_if_refused(refused)),
                None => resp,
            }
        }
        (Outcome::Answer { answer: Err(_), .. }, _) => internal_error(),
        (Outcome::Refused(failure), _) => {
            // The app is told its client is gone (it stops quietly); a late answer is dropped.
            if let Some(d) = guard.0.take() {
                d.fire();
            }
            refuse(&shared.bridge, failure, h2)
        }
    };
    // The head is out of the app's hands now; a streaming body watches the client itself. Over
    // HTTP/2, a streamed response cut by the write timeout ends its stream's task.
    if let Some(disconnect) = guard.0.take().filter(|_| h2 && resp.body().is_stream()) {
        stream_task::watch(disconnect);
    }
    Ok(logged(resp, access, permit, rec, &shared, started))
}

/// The engine's answer for a refused request body (logged at debug level: the client's doing).
fn refuse(bridge: &Bridge, failure: BodyFailure, h2: bool) -> Response<ResponseBody> {
    let resp = body_failure::answer(failure, h2);
    bridge.log(Level::Debug, || {
        format!("{}: answered {}", failure.describe(), resp.status().as_u16())
    });
    resp
}

/// `resp`, with its access-log line written, its metrics recorded and its admission permit
/// given back when its body is over (so that the line's duration and byte count cover a
/// streamed body too, and a response whose client left is still logged); as is without
/// `--access-log`, `--metrics` and `--limit-concurrency`. The response headers the line reads
/// are the ones set so far: the app's (or the static files'), not yet the server's defaults
/// nor hyper's framing headers.
fn logged<I>(
    resp: Response<ResponseBody>,
    mut access: Option<AccessFacts>,
    permit: Option<Permit>,
    rec: Option<metrics::Request>,
    shared: &Shared<I>,
    started: Instant,
) -> Response<ResponseBody> {
    if access.is_none() && permit.is_none() && rec.is_none() {
        return resp;
    }
    if let (Some(facts), Some(log)) = (access.as_mut(), &shared.access_log) {
        log.response(facts, resp.headers());
    }
    let status = resp.status().as_u16();
    // Boxed: the end-of-body hook stays small (and cheap to move) when the access log is off.
    let access = access.map(|facts| Box::new((facts, Arc::clone(&shared.bridge))));
    resp.map(|body| {
        body.on_end(move |sent| {
            if let Some(access) = access {
                let (facts, bridge) = *access;
                facts.emit(&bridge, status, started.elapsed(), sent);
            }
            if let Some(rec) = rec {
                rec.finish(status, sent);
            }
            drop(permit);
        })
    })
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
