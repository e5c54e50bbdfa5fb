//! The request rules of [`super::handle`] without Python: a Rust test interface stands where
//! an app would be, behind the real handler and hyper, over an in-memory connection. Covered:
//! the Host check, the small-body read-ahead (whole when it has arrived, streaming when it has
//! not or is too large), the malformed-body 400, when the access-log facts are handed over, and
//! that proxy headers reach the interface resolved (only when the option is on).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::{handle, Interface, RequestCtx, Shared};
use crate::bridge::{Bridge, Level, Outbox};
use crate::http::body::{RequestBody, ResponseBody, PREFETCH_LIMIT};
use crate::http::forwarded::ProxyTrust;
use crate::http::response::{build, ResponsePlan};
use crate::net::ConnInfo;

/// Answers `200` with what it was handed: `full N` (the body was read ahead, `N` bytes) or
/// `stream N` (it read a streamed body of `N` bytes itself), followed by `for CLIENT SCHEME`
/// when proxy headers were applied. It reports each call on `started` before reading anything.
struct Describe {
    started: mpsc::UnboundedSender<()>,
}

impl Interface for Describe {
    fn dispatch(self: Arc<Self>, req: RequestCtx) {
        let _ = self.started.send(());
        tokio::spawn(async move {
            let what = match req.body {
                RequestBody::Full(b) => format!("full {}", b.len()),
                RequestBody::Stream(mut s) => match s.read_all().await {
                    Ok(b) => format!("stream {}", b.len()),
                    // The handler answers 400 itself: this answer must lose.
                    Err(_) => "stream broken".to_owned(),
                },
            };
            let fwd = req.forwarded;
            let what = if fwd.applied() {
                format!("{what} for {} {}", fwd.client_name(&req.conn), fwd.scheme(&req.conn))
            } else {
                what
            };
            let body = ResponseBody::full(Bytes::from(what));
            req.responder
                .send(ResponsePlan::Ready(build(StatusCode::OK, HeaderMap::new(), body)));
        });
    }
}

struct Harness {
    client: DuplexStream,
    started: mpsc::UnboundedReceiver<()>,
    bridge: Arc<Bridge>,
}

/// Serves one HTTP/1.1 connection with the handler; the test speaks raw bytes on `client`.
fn serve(access_log: bool) -> Harness {
    serve_with(access_log, None)
}

/// [`serve`] with proxy headers applied from the peers `proxies` trusts (the connection's peer
/// is a Unix socket's, so trusted whatever the list), or not at all when `None`.
fn serve_with(access_log: bool, proxies: Option<ProxyTrust>) -> Harness {
    let (client, server) = tokio::io::duplex(256 * 1024);
    let (tx, started) = mpsc::unbounded_channel();
    // Errors only: debug records would queue jobs too, and these tests count the queue.
    let bridge = Arc::new(Bridge::new(Level::Error as u8).unwrap());
    let shared = Arc::new(Shared {
        interface: Arc::new(Describe { started: tx }),
        bridge: Arc::clone(&bridge),
        access_log,
        proxies,
        upgrade: None,
        admission: None,
        max_requests: None,
    });
    let info = Arc::new(ConnInfo {
        client: "127.0.0.1:50000".into(),
        client_ip: "127.0.0.1".into(),
        server: "127.0.0.1:8000".into(),
        scheme: "http",
        peer_addr: None,
        local_addr: None,
    });
    let outbox = Outbox::start();
    tokio::spawn(async move {
        let svc = service_fn(move |req| handle(req, Arc::clone(&info), Arc::clone(&shared), Arc::clone(&outbox)));
        let _ = http1::Builder::new().serve_connection(TokioIo::new(server), svc).await;
    });
    Harness {
        client,
        started,
        bridge,
    }
}

/// Reads one response with a `content-length` body: (status, body).
async fn response(client: &mut DuplexStream) -> (u16, String) {
    let mut buf = Vec::new();
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + len {
                    let status = head[9..12].parse().unwrap();
                    return (
                        status,
                        String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned(),
                    );
                }
            }
            let mut chunk = [0u8; 4096];
            let n = client.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before a whole response");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no response")
}

async fn exchange(h: &mut Harness, request: &[u8]) -> (u16, String) {
    h.client.write_all(request).await.unwrap();
    response(&mut h.client).await
}

#[tokio::test]
async fn a_request_reaches_the_interface() {
    let mut h = serve(false);
    let got = exchange(&mut h, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(got, (200, "full 0".into()));
}

#[tokio::test]
async fn http11_without_host_is_a_400_without_the_app() {
    let mut h = serve(false);
    let (status, body) = exchange(&mut h, b"GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, 400);
    assert!(body.contains("missing Host"), "{body}");
    assert!(h.started.try_recv().is_err(), "the app was called");
    // HTTP/1.0 has no Host requirement.
    let mut h = serve(false);
    let got = exchange(&mut h, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(got, (200, "full 0".into()));
}

#[tokio::test]
async fn a_small_body_that_has_arrived_is_read_ahead() {
    let mut h = serve(false);
    let got = exchange(
        &mut h,
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n0123456789",
    )
    .await;
    assert_eq!(got, (200, "full 10".into()));
}

#[tokio::test]
async fn a_body_over_the_read_ahead_limit_streams() {
    let mut h = serve(false);
    let n = PREFETCH_LIMIT as usize + 1;
    let mut req = format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {n}\r\n\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'a', n));
    let got = exchange(&mut h, &req).await;
    assert_eq!(got, (200, format!("stream {n}")));
}

#[tokio::test]
async fn a_chunked_body_streams() {
    let mut h = serve(false);
    let req = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(exchange(&mut h, req).await, (200, "stream 3".into()));
}

#[tokio::test]
async fn the_app_starts_before_a_slow_small_body_has_arrived() {
    let mut h = serve(false);
    h.client
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n01234")
        .await
        .unwrap();
    // The read-ahead takes what is there and calls the app; it never waits for the rest.
    tokio::time::timeout(Duration::from_secs(5), h.started.recv())
        .await
        .expect("the app was not called while the body was incomplete");
    h.client.write_all(b"56789").await.unwrap();
    assert_eq!(response(&mut h.client).await, (200, "stream 10".into()));
}

#[tokio::test]
async fn a_malformed_body_is_a_400_not_the_apps_answer() {
    let mut h = serve(false);
    let req = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
    let (status, body) = exchange(&mut h, req).await;
    assert_eq!(status, 400);
    assert!(body.contains("malformed request body"), "{body}");
}

#[tokio::test]
async fn the_access_facts_are_handed_over_once_the_response_is_sent() {
    let mut h = serve(true);
    assert_eq!(h.bridge.queued(), 0);
    let got = exchange(&mut h, b"GET /a?b=c HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(got.0, 200);
    // One access-log job per request, queued for the loop thread when the body ended.
    tokio::time::timeout(Duration::from_secs(5), async {
        while h.bridge.queued() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("no access-log job");
    assert_eq!(h.bridge.queued(), 1);
    // Without the access log, nothing is queued.
    let mut h = serve(false);
    exchange(&mut h, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(h.bridge.queued(), 0);
}

#[tokio::test]
async fn proxy_headers_reach_the_interface_resolved() {
    let req = b"GET / HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\n\r\n";
    let mut h = serve_with(false, Some(ProxyTrust::default()));
    assert_eq!(
        exchange(&mut h, req).await,
        (200, "full 0 for 203.0.113.7:0 https".into())
    );
    // Without them, nothing is resolved.
    let mut h = serve_with(false, Some(ProxyTrust::default()));
    let plain = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
    assert_eq!(exchange(&mut h, plain).await, (200, "full 0".into()));
    // `--no-proxy-headers`: the headers are the app's business only.
    let mut h = serve(false);
    assert_eq!(exchange(&mut h, req).await, (200, "full 0".into()));
}
