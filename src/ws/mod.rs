//! WebSockets: telling an upgrade request apart, the handshake, and the session task that
//! owns an accepted connection. Framing, masking, UTF-8 checks, fragment reassembly,
//! ping answers and permessage-deflate (RFC 7692) come from the `yawc` crate; this module
//! decides what the server does with them. The same code serves the HTTP/1.1 `Upgrade`
//! handshake (RFC 6455) and HTTP/2 extended CONNECT (RFC 8441).
//!
//! WebSockets plug into the HTTP engine as its upgrade hook ([`WebSockets`] implements
//! [`crate::http::upgrade::Upgrade`]); the engine does not know this module. The interfaces
//! (ASGI, RSGI) talk to a session only through [`channel::WsChannel`]: the app's decision
//! travels back as [`crate::http::response::ResponsePlan::Switch`] with an [`Accept`], or as an
//! ordinary response (rejection, denial response).

mod assemble;
pub(crate) mod channel;
mod session;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use http::{Method, Request, Response, Version};
use http_body_util::Empty;
use hyper::body::Incoming;

use crate::bridge::Bridge;
use crate::http::admission::Permit;
use crate::http::body::ResponseBody;
use crate::http::drain::Drain;
use crate::http::response::{build, internal_error};
use crate::http::upgrade::{Prepared, Upgrade};

pub(crate) use channel::{Command, Event, SessionEnds, WsChannel};

/// Limits and keep-alive of WebSocket sessions (`--ws-*`).
#[derive(Clone, Debug)]
pub(crate) struct WsConfig {
    /// Largest message (after reassembly and decompression) accepted from a client.
    pub(crate) max_message_size: usize,
    /// Pause between the server's pings; `None` sends none.
    pub(crate) ping_interval: Option<Duration>,
    /// How long a ping may stay unanswered before the connection is dropped; `None` waits
    /// forever.
    pub(crate) ping_timeout: Option<Duration>,
}

/// What the app said when it accepted the connection.
pub(crate) struct Accept {
    pub(crate) subprotocol: Option<HeaderValue>,
    pub(crate) headers: HeaderMap,
    pub(crate) ends: SessionEnds,
}

/// The handshake as prepared before the app is asked: the `101` (or, over HTTP/2, `200`)
/// response with the negotiated extensions, and the connection once hyper hands it over.
struct Handshake {
    response: Response<Empty<Bytes>>,
    upgrade: yawc::UpgradeFut,
    link: session::Link,
    cfg: Arc<WsConfig>,
    bridge: Arc<Bridge>,
    drain: Arc<Drain>,
}

fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether `req` asks to open a WebSocket: `GET` with `Upgrade: websocket` over HTTP/1.1,
/// or `CONNECT` with `:protocol = websocket` over HTTP/2.
fn is_upgrade(req: &Request<Incoming>) -> bool {
    if req.version() == Version::HTTP_2 {
        return req.method() == Method::CONNECT
            && req
                .extensions()
                .get::<hyper::ext::Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    }
    req.method() == Method::GET
        && has_token(req.headers(), UPGRADE, "websocket")
        && has_token(req.headers(), CONNECTION, "upgrade")
}

fn options(cfg: &WsConfig) -> yawc::Options {
    // yawc refuses a message whose size reaches its limit: +1 lets exactly `max` through.
    let limit = cfg.max_message_size.saturating_add(1);
    yawc::Options::default()
        .with_max_payload_read(limit)
        .with_max_read_buffer(limit)
        .with_no_delay()
        .with_balanced_compression()
}

/// WebSockets as the HTTP engine's upgrade hook.
pub(crate) struct WebSockets {
    cfg: Arc<WsConfig>,
    /// `--write-timeout`, for sessions over HTTP/2 (see [`session::Link`]).
    write_timeout: Option<Duration>,
    bridge: Arc<Bridge>,
    /// The worker's graceful stop: sessions are tracked by it, say "going away" when it
    /// begins and are cut at its timeout.
    drain: Arc<Drain>,
}

impl WebSockets {
    pub(crate) fn new(cfg: WsConfig, write_timeout: Option<Duration>, bridge: Arc<Bridge>, drain: Arc<Drain>) -> Self {
        Self {
            cfg: Arc::new(cfg),
            write_timeout,
            bridge,
            drain,
        }
    }
}

impl Upgrade for WebSockets {
    /// Checks the handshake request and prepares the response; a malformed one (missing key,
    /// unsupported version) is an error.
    fn prepare(&self, req: &mut Request<Incoming>) -> Option<Result<Box<dyn Prepared>, String>> {
        if !is_upgrade(req) {
            return None;
        }
        let h2 = req.version() == Version::HTTP_2;
        let link = session::Link {
            write_timeout: self.write_timeout.filter(|_| h2),
        };
        Some(match yawc::WebSocket::upgrade_with_options(req, options(&self.cfg)) {
            Ok((response, upgrade)) => Ok(Box::new(Handshake {
                response,
                upgrade,
                link,
                cfg: Arc::clone(&self.cfg),
                bridge: Arc::clone(&self.bridge),
                drain: Arc::clone(&self.drain),
            })),
            Err(e) => Err(format!("invalid WebSocket handshake: {e}")),
        })
    }
}

impl Prepared for Handshake {
    /// The app accepted (with an [`Accept`]): builds the handshake response and starts the
    /// session task, which runs once hyper has sent the response and handed over the
    /// connection. The session holds `permit` until it ends.
    fn switch(self: Box<Self>, accepted: Box<dyn Any + Send>, permit: Option<Permit>) -> Response<ResponseBody> {
        let Ok(accept) = accepted.downcast::<Accept>() else {
            return internal_error();
        };
        let Handshake {
            response,
            upgrade,
            link,
            cfg,
            bridge,
            drain,
        } = *self;
        let (parts, _) = response.into_parts();
        let mut headers = parts.headers;
        for (name, value) in &accept.headers {
            headers.append(name, value.clone());
        }
        if let Some(sub) = accept.subprotocol {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, sub);
        }
        // Tracked from here, while the request's connection still is (see `Drain::track`).
        let alive = drain.track();
        let ends = accept.ends;
        tokio::spawn(async move {
            let _ = alive
                .unless_cut(session::run(upgrade, ends, link, cfg, bridge, &drain))
                .await;
            drop(permit);
        });
        build(parts.status, headers, ResponseBody::full(Bytes::new()))
    }
}
