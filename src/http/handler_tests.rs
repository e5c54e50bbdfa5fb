//! The request rules of [`super::handle`] without Python: a Rust test interface stands where
//! an app would be, behind the real handler and hyper, over an in-memory connection. Covered:
//! the Host check, the small-body read-ahead (whole when it has arrived, streaming when it has
//! not or is too large), the refused bodies (malformed 400, over the cap 413, stalled 408, and
//! the cut response once the app's has started), when the access-log facts are handed over,
//! that proxy headers reach the interface resolved (only when the option is on), and, over
//! HTTP/2, that a streamed response whose window the client never opens is reset at the write
//! timeout while the connection serves on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::{handle, Interface, RequestCtx, Shared};
use crate::access_log::AccessLog;
use crate::bridge::{Bridge, Level, Outbox};
use crate::http::body::{wait_for_room, RequestBody, ResponseBody, PREFETCH_LIMIT};
use crate::http::body_failure::BodyLimits;
use crate::http::forwarded::ProxyTrust;
use crate::http::response::{build, ResponsePlan};
use crate::http::stream_task::StreamExec;
use crate::net::ConnInfo;

/// Answers `200` with what it was handed: `full N` (the body was read ahead, `N` bytes) or
/// `stream N` (it read a streamed body of `N` bytes itself). On `/respond-then-read` it starts
/// a streamed response first (`started`), then reads the body and ends with `read N`. It
/// reports `called` on `events` before reading anything, then how its read ended (`read N`,
/// or `failed: <error>`). Its answers end with `for CLIENT SCHEME` when proxy headers were
/// applied.
struct Describe {
    events: mpsc::UnboundedSender<String>,
}

impl Interface for Describe {
    fn dispatch(self: Arc<Self>, req: RequestCtx) {
        let _ = self.events.send("called".to_owned());
        let events = self.events.clone();
        let (fwd, conn) = (req.forwarded, Arc::clone(&req.conn));
        let tag = move |what: String| {
            if fwd.applied() {
                format!("{what} for {} {}", fwd.client_name(&conn), fwd.scheme(&conn))
            } else {
                what
            }
        };
        tokio::spawn(async move {
            let mut stream = match req.body {
                RequestBody::Full(b) => {
                    let _ = events.send(format!("read {}", b.len()));
                    let body = ResponseBody::full(Bytes::from(tag(format!("full {}", b.len()))));
                    req.responder
                        .send(ResponsePlan::Ready(build(StatusCode::OK, HeaderMap::new(), body)));
                    return;
                }
                RequestBody::Stream(s) => s,
            };
            let mut responder = Some(req.responder);
            let chunks = if req.head.uri.path() == "/respond-then-read" {
                let (tx, body) = ResponseBody::stream(None);
                if let Some(r) = responder.take() {
                    r.send(ResponsePlan::Ready(build(StatusCode::OK, HeaderMap::new(), body)));
                }
                tx.send(Ok(Bytes::from_static(b"started"))).await.unwrap();
                Some(tx)
            } else {
                None
            };
            let read = stream.read_all().await;
            let _ = events.send(match &read {
                Ok(b) => format!("read {}", b.len()),
                Err(e) => format!("failed: {e}"),
            });
            let what = match read {
                Ok(b) => format!("stream {}", b.len()),
                // The handler answers for a refused body itself: this answer must lose.
                Err(_) => "stream broken".to_owned(),
            };
            if let Some(r) = responder {
                let body = ResponseBody::full(Bytes::from(tag(what)));
                r.send(ResponsePlan::Ready(build(StatusCode::OK, HeaderMap::new(), body)));
            } else if let Some(tx) = chunks {
                // The response then ends as if it were complete: the engine must cut it.
                let _ = tx.send(Ok(Bytes::from(what))).await;
            }
        });
    }
}

struct Harness {
    client: DuplexStream,
    events: mpsc::UnboundedReceiver<String>,
    bridge: Arc<Bridge>,
}

impl Harness {
    /// The next event the app reported.
    async fn event(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(5), self.events.recv())
            .await
            .expect("no event from the app")
            .expect("the app is gone")
    }

    /// Whether the app was never called.
    fn not_called(&mut self) -> bool {
        self.events.try_recv().is_err()
    }
}

/// Serves one HTTP/1.1 connection with the handler; the test speaks raw bytes on `client`.
fn serve(access_log: bool) -> Harness {
    serve_with(access_log, BodyLimits::default(), None)
}

/// [`serve`], reading request bodies under `limits`.
fn limited(max_size: Option<u64>, read_timeout: Option<Duration>) -> Harness {
    serve_with(false, BodyLimits { max_size, read_timeout }, None)
}

/// [`serve`] with body limits, and proxy headers applied from the peers `proxies` trusts (the
/// connection's peer is a Unix socket's, so trusted whatever the list), or not at all when `None`.
fn serve_with(access_log: bool, body_limits: BodyLimits, proxies: Option<ProxyTrust>) -> Harness {
    let (client, server) = tokio::io::duplex(256 * 1024);
    let (tx, events) = mpsc::unbounded_channel();
    // Errors only: debug records would queue jobs too, and these tests count the queue.
    let bridge = Arc::new(Bridge::new(Level::Error as u8).unwrap());
    let shared = Arc::new(Shared {
        access_log: access_log.then(|| Arc::new(AccessLog::default())),
        proxies,
        body_limits,
        ..Shared::for_test(Describe { events: tx }, Arc::clone(&bridge))
    });
    let info = ConnInfo::for_test();
    let outbox = Outbox::start();
    tokio::spawn(async move {
        let svc = service_fn(move |req| handle(req, Arc::clone(&info), Arc::clone(&shared), Arc::clone(&outbox)));
        let _ = http1::Builder::new().serve_connection(TokioIo::new(server), svc).await;
    });
    Harness { client, events, bridge }
}

/// Reads one response with a `content-length` body: (status, body).
async fn response(client: &mut DuplexStream) -> (u16, String) {
    let (status, _, body) = response_with_head(client).await;
    (status, body)
}

/// Reads one response with a `content-length` body: (status, head in lower case, body).
async fn response_with_head(client: &mut DuplexStream) -> (u16, String, String) {
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
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    return (status, head, body);
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

/// Everything the server sends until it closes the connection.
async fn read_to_close(client: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
        .await
        .expect("the connection stayed open")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until `what` has arrived; returns everything read.
async fn read_until(client: &mut DuplexStream, what: &str) -> String {
    let mut out = Vec::new();
    let read = async {
        while !String::from_utf8_lossy(&out).contains(what) {
            let mut chunk = [0u8; 4096];
            let n = client.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before {what:?}: {}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("it did not arrive");
    String::from_utf8_lossy(&out).into_owned()
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
    assert!(h.not_called(), "the app was called");
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
    assert_eq!(
        h.event().await,
        "called",
        "the app was not called while the body was incomplete"
    );
    h.client.write_all(b"56789").await.unwrap();
    assert_eq!(response(&mut h.client).await, (200, "stream 10".into()));
}

#[tokio::test]
async fn a_malformed_body_is_a_400_not_the_apps_answer() {
    let mut h = serve(false);
    let req = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
    let (status, head, body) = {
        h.client.write_all(req).await.unwrap();
        response_with_head(&mut h.client).await
    };
    assert_eq!(status, 400);
    assert!(body.contains("malformed request body"), "{body}");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(h.event().await, "called");
    assert_eq!(h.event().await, "failed: the request body was malformed");
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

const CHUNKED_HEAD: &[u8] = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";

#[tokio::test]
async fn a_declared_length_over_the_cap_is_a_413_without_the_app() {
    let mut h = limited(Some(10), None);
    h.client
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 11\r\n\r\n0123456789X")
        .await
        .unwrap();
    let (status, head, body) = response_with_head(&mut h.client).await;
    assert_eq!(status, 413);
    assert!(head.starts_with("http/1.1 413 content too large\r\n"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(body.starts_with("Content Too Large"), "{body}");
    assert_eq!(read_to_close(&mut h.client).await, "");
    assert!(h.not_called(), "the app was called");
}

#[tokio::test]
async fn a_body_at_the_cap_is_accepted() {
    let mut h = limited(Some(10), None);
    let req = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n0123456789";
    assert_eq!(exchange(&mut h, req).await, (200, "full 10".into()));
    let mut req = CHUNKED_HEAD.to_vec();
    req.extend_from_slice(b"4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n");
    assert_eq!(exchange(&mut h, &req).await, (200, "stream 10".into()));
}

#[tokio::test]
async fn without_a_cap_any_size_is_read() {
    let mut h = limited(None, None);
    let n = PREFETCH_LIMIT as usize * 2;
    let mut req = format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {n}\r\n\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'a', n));
    assert_eq!(exchange(&mut h, &req).await, (200, format!("stream {n}")));
}

#[tokio::test]
async fn a_413_to_a_client_waiting_for_100_continue_comes_without_it() {
    let mut h = limited(Some(10), None);
    h.client
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 11\r\nexpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let got = read_to_close(&mut h.client).await;
    assert!(got.starts_with("HTTP/1.1 413 Content Too Large\r\n"), "{got}");
    assert!(!got.contains("100 Continue"), "{got}");
}

#[tokio::test(start_paused = true)]
async fn a_refused_upload_is_still_read_for_a_moment_then_the_connection_closes() {
    let mut h = limited(Some(10), None);
    h.client
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(response(&mut h.client).await.0, 413);
    // Within the moment the rest is read and dropped, so the client can still send it: closing
    // on unread bytes would make the kernel reset the connection, answer and all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.client.write_all(&vec![b'a'; 100_000]).await.unwrap();
    assert_eq!(read_to_close(&mut h.client).await, "");
    assert!(h.not_called());
}

#[tokio::test]
async fn a_chunked_body_crossing_the_cap_is_a_413() {
    let mut h = limited(Some(10), None);
    let mut req = CHUNKED_HEAD.to_vec();
    req.extend_from_slice(b"6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n");
    h.client.write_all(&req).await.unwrap();
    let (status, head, _) = response_with_head(&mut h.client).await;
    assert_eq!(status, 413);
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(h.event().await, "called");
    assert_eq!(
        h.event().await,
        "failed: the request body is larger than --max-body-size"
    );
    assert_eq!(read_to_close(&mut h.client).await, "");
}

#[tokio::test]
async fn crossing_the_cap_after_the_response_started_cuts_it() {
    let mut h = limited(Some(10), None);
    h.client
        .write_all(b"POST /respond-then-read HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n6\r\nabcdef\r\n")
        .await
        .unwrap();
    let got = read_until(&mut h.client, "started").await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    h.client.write_all(b"6\r\nghijkl\r\n").await.unwrap();
    let rest = read_to_close(&mut h.client).await;
    // No last chunk: the response does not pass for complete.
    assert!(!rest.contains("0\r\n\r\n"), "{rest}");
    assert!(!rest.contains("stream broken"), "{rest}");
    assert_eq!(h.event().await, "called");
    assert_eq!(
        h.event().await,
        "failed: the request body is larger than --max-body-size"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_a_408() {
    let mut h = limited(None, Some(Duration::from_secs(1)));
    let mut req = CHUNKED_HEAD.to_vec();
    req.extend_from_slice(b"3\r\nabc\r\n");
    h.client.write_all(&req).await.unwrap();
    let (status, head, body) = response_with_head(&mut h.client).await;
    assert_eq!(status, 408);
    assert!(head.contains("connection: close"), "{head}");
    assert!(body.starts_with("Request Timeout"), "{body}");
    assert_eq!(h.event().await, "called");
    assert_eq!(
        h.event().await,
        "failed: the request body stalled for longer than --body-read-timeout"
    );
    assert_eq!(read_to_close(&mut h.client).await, "");
}

#[tokio::test(start_paused = true)]
async fn a_body_stalled_after_the_response_started_cuts_it() {
    let mut h = limited(None, Some(Duration::from_secs(1)));
    h.client
        .write_all(b"POST /respond-then-read HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        .await
        .unwrap();
    read_until(&mut h.client, "started").await;
    let rest = read_to_close(&mut h.client).await;
    assert!(!rest.contains("0\r\n\r\n"), "{rest}");
    assert_eq!(h.event().await, "called");
    assert!(h.event().await.contains("stalled"));
}

#[tokio::test(start_paused = true)]
async fn a_slow_body_that_keeps_coming_is_not_stalled() {
    let mut h = limited(None, Some(Duration::from_secs(1)));
    h.client.write_all(CHUNKED_HEAD).await.unwrap();
    // Each pause is under the timeout; together they are far over it.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        h.client.write_all(b"1\r\na\r\n").await.unwrap();
    }
    h.client.write_all(b"0\r\n\r\n").await.unwrap();
    assert_eq!(response(&mut h.client).await, (200, "stream 5".into()));
}

#[tokio::test(start_paused = true)]
async fn without_a_timeout_a_stalled_body_is_waited_for() {
    let mut h = limited(None, None);
    let mut req = CHUNKED_HEAD.to_vec();
    req.extend_from_slice(b"3\r\nabc\r\n");
    h.client.write_all(&req).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    h.client.write_all(b"0\r\n\r\n").await.unwrap();
    assert_eq!(response(&mut h.client).await, (200, "stream 3".into()));
}

#[tokio::test]
async fn proxy_headers_reach_the_interface_resolved() {
    let req = b"GET / HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\n\r\n";
    let mut h = serve_with(false, BodyLimits::default(), Some(ProxyTrust::default()));
    assert_eq!(
        exchange(&mut h, req).await,
        (200, "full 0 for 203.0.113.7:0 https".into())
    );
    // Without them, nothing is resolved.
    let mut h = serve_with(false, BodyLimits::default(), Some(ProxyTrust::default()));
    let plain = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
    assert_eq!(exchange(&mut h, plain).await, (200, "full 0".into()));
    // `--no-proxy-headers`: the headers are the app's business only.
    let mut h = serve(false);
    assert_eq!(exchange(&mut h, req).await, (200, "full 0".into()));
}

// --- a streamed HTTP/2 response whose window stays shut -------------------------------------------

/// `/produce` streams 1 KiB chunks through the engine's bounded wait until one does not get in,
/// then reports `cut` (the engine gave up on the client) or `gone`; any other path is answered
/// `204` at once.
struct Produce {
    events: mpsc::UnboundedSender<String>,
}

impl Interface for Produce {
    fn dispatch(self: Arc<Self>, req: RequestCtx) {
        let RequestCtx {
            head,
            responder,
            disconnect,
            bridge,
            write_timeout,
            ..
        } = req;
        if head.uri.path() != "/produce" {
            let body = ResponseBody::full(Bytes::new());
            responder.send(ResponsePlan::Ready(build(
                StatusCode::NO_CONTENT,
                HeaderMap::new(),
                body,
            )));
            return;
        }
        let (tx, body) = ResponseBody::stream(Some(Arc::clone(&disconnect)));
        responder.send(ResponsePlan::Ready(build(StatusCode::OK, HeaderMap::new(), body)));
        let events = self.events.clone();
        tokio::spawn(async move {
            let chunk = Bytes::from(vec![b'x'; 1024]);
            let room = |chunk| {
                wait_for_room(
                    tx.clone(),
                    Ok(chunk),
                    write_timeout,
                    Arc::clone(&disconnect),
                    Arc::clone(&bridge),
                )
            };
            while room(chunk.clone()).await {}
            let _ = events.send(if disconnect.is_cut() { "cut" } else { "gone" }.to_owned());
        });
    }
}

/// `fut`'s output, which must come within 5 s.
async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("nothing within 5 s")
}

#[tokio::test]
async fn an_http2_stream_whose_window_stays_shut_is_reset_at_the_write_timeout() {
    const WRITE_TIMEOUT: Duration = Duration::from_millis(200);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        write_timeout: Some(WRITE_TIMEOUT),
        ..Shared::for_test(
            Produce { events: events_tx },
            Arc::new(Bridge::new(Level::Error as u8).unwrap()),
        )
    });
    let info = ConnInfo::for_test();
    let (client_io, server_io) = tokio::io::duplex(256 * 1024);
    let outbox = Outbox::start();
    tokio::spawn(async move {
        let svc = service_fn(move |req| handle(req, Arc::clone(&info), Arc::clone(&shared), Arc::clone(&outbox)));
        let _ = http2::Builder::new(StreamExec)
            .serve_connection(TokioIo::new(server_io), svc)
            .await;
    });
    // The client reads its socket all along (h2 runs the connection) but gives no stream any
    // window, and never releases any.
    let (client, conn) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(client_io)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let started = tokio::time::Instant::now();
    let (resp, _) = client
        .send_request(http::Request::get("http://x/produce").body(()).unwrap(), true)
        .unwrap();
    let resp = within(resp).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let err = within(body.data())
        .await
        .expect("the stream ended")
        .expect_err("data came through a shut window");
    assert_eq!(err.reason(), Some(h2::Reason::CANCEL), "{err}");
    assert!(started.elapsed() >= WRITE_TIMEOUT, "cut before the write timeout");
    assert_eq!(within(events.recv()).await.unwrap(), "cut");
    // Only that stream: the connection serves the next request at once.
    let mut client = client.ready().await.unwrap();
    let (resp, _) = client
        .send_request(http::Request::get("http://x/").body(()).unwrap(), true)
        .unwrap();
    assert_eq!(within(resp).await.unwrap().status(), StatusCode::NO_CONTENT);
}
