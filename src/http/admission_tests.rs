//! The admission counter, its log rate, the refusal per protocol (HTTP/2 over hyper's real
//! server and the h2 client), and the permit's life in the request flow (the real handler behind
//! hyper, over in-memory connections).

use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, Request};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::*;
use crate::bridge::{Bridge, Level, Outbox};
use crate::http::body::Chunk;
use crate::http::handler::{handle, Interface, RequestCtx, Shared};
use crate::http::response::{build, ResponsePlan};
use crate::net::ConnInfo;

// --- the counter ---------------------------------------------------------------------------------

#[test]
fn permits_up_to_the_limit_then_refusals_until_one_is_given_back() {
    let admission = Admission::new(2);
    let a = admission.try_admit().expect("first");
    let b = admission.try_admit().expect("second");
    assert!(admission.try_admit().is_none(), "a third request must be refused");
    assert_eq!(admission.in_flight(), 2);
    drop(a);
    assert_eq!(admission.in_flight(), 1);
    let c = admission.try_admit().expect("a permit was given back");
    assert!(admission.try_admit().is_none());
    drop((b, c));
    assert_eq!(admission.in_flight(), 0);
}

#[test]
fn racing_threads_never_hold_more_than_the_limit() {
    let admission = Admission::new(3);
    let most = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let admission = Arc::clone(&admission);
            let most = Arc::clone(&most);
            std::thread::spawn(move || {
                let mut admitted = 0;
                for _ in 0..20_000 {
                    if let Some(permit) = admission.try_admit() {
                        admitted += 1;
                        most.fetch_max(admission.in_flight(), Ordering::SeqCst);
                        drop(permit);
                    }
                }
                admitted
            })
        })
        .collect();
    let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(admitted > 0);
    assert!(
        most.load(Ordering::SeqCst) <= 3,
        "{} in flight",
        most.load(Ordering::SeqCst)
    );
    assert_eq!(admission.in_flight(), 0, "every permit was given back");
}

// --- the warning's rate ----------------------------------------------------------------------------

#[test]
fn the_first_refusal_is_logged_then_at_most_one_line_a_second_with_the_count() {
    let start = Instant::now();
    let log = RefusalLog::new(start);
    let at = |ms: u64| start + Duration::from_millis(ms);
    assert_eq!(log.refused(at(0)), Some(1));
    for ms in [10, 200, 999] {
        assert_eq!(log.refused(at(ms)), None);
    }
    // The next line, a second after the first, counts the three quiet ones and itself.
    assert_eq!(log.refused(at(1000)), Some(4));
    assert_eq!(log.refused(at(1500)), None);
    // After a quiet spell the next refusal is logged at once with what was pending.
    assert_eq!(log.refused(at(60_000)), Some(2));
}

#[test]
fn racing_refusals_are_counted_once_each() {
    let log = Arc::new(RefusalLog::new(Instant::now()));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || (0..1000).filter_map(|_| log.refused(Instant::now())).sum::<u64>())
        })
        .collect();
    let reported: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let pending = log.pending.load(Ordering::SeqCst);
    assert_eq!(
        reported + pending,
        4000,
        "every refusal is reported once, now or in a later line"
    );
}

#[test]
fn the_warning_names_the_option_and_the_count() {
    let admission = Admission::new(64);
    assert_eq!(
        admission.warning(1),
        "Concurrency limit reached (--limit-concurrency 64): refused 1 request since the last warning"
    );
    assert!(admission.warning(7).contains("refused 7 requests"));
}

// --- the refusal --------------------------------------------------------------------------------

#[test]
fn http1_gets_a_503_that_says_retry_and_close() {
    for version in [Version::HTTP_11, Version::HTTP_10] {
        let resp = refusal(version).unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[RETRY_AFTER], "1");
        assert_eq!(resp.headers()[CONNECTION], "close");
        assert_eq!(resp.headers()[http::header::CONTENT_LENGTH], BUSY.len().to_string());
    }
}

#[test]
fn http2_gets_the_error_that_carries_refused_stream() {
    let Err(err) = refusal(Version::HTTP_2) else {
        panic!("HTTP/2 got a response")
    };
    let source = std::error::Error::source(&err).expect("the h2 error");
    let h2 = source
        .downcast_ref::<h2::Error>()
        .expect("an h2::Error, which hyper looks for");
    assert_eq!(h2.reason(), Some(h2::Reason::REFUSED_STREAM));
}

#[tokio::test]
async fn hyper_resets_a_refused_h2_stream_with_refused_stream_and_serves_the_next() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let svc = service_fn(|req: Request<Incoming>| async move {
            if req.uri().path() == "/busy" {
                refusal(req.version())
            } else {
                Ok(status_only(StatusCode::OK, b"ok"))
            }
        });
        let _ = http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(server_io), svc)
            .await;
    });
    let (client, conn) = h2::client::handshake(client_io).await.unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let (resp, _) = client
        .send_request(Request::get("http://x/busy").body(()).unwrap(), true)
        .unwrap();
    let err = resp.await.expect_err("the stream must be reset");
    assert_eq!(err.reason(), Some(h2::Reason::REFUSED_STREAM), "{err}");
    // Only that stream: the connection serves the next request.
    let mut client = client.ready().await.unwrap();
    let (resp, _) = client
        .send_request(Request::get("http://x/").body(()).unwrap(), true)
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), resp)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

// --- the permit in the request flow -------------------------------------------------------------

/// Answers every request with a streamed body and hands the test its sender: the body (and so
/// the request) lasts until the test drops it.
struct Hold {
    senders: mpsc::UnboundedSender<mpsc::Sender<Chunk>>,
    calls: Mutex<usize>,
}

impl Interface for Hold {
    fn dispatch(self: Arc<Self>, req: RequestCtx) {
        *crate::bridge::lock(&self.calls) += 1;
        let (tx, body) = ResponseBody::stream(None);
        let _ = self.senders.send(tx);
        req.responder
            .send(ResponsePlan::Ready(build(StatusCode::OK, HeaderMap::new(), body)));
    }
}

struct Flow {
    shared: Arc<Shared<Hold>>,
    senders: mpsc::UnboundedReceiver<mpsc::Sender<Chunk>>,
    admission: Arc<Admission>,
}

fn flow(limit: usize) -> Flow {
    let (tx, senders) = mpsc::unbounded_channel();
    let admission = Admission::new(limit);
    let shared = Arc::new(Shared {
        interface: Arc::new(Hold {
            senders: tx,
            calls: Mutex::new(0),
        }),
        bridge: Arc::new(Bridge::new(Level::Warning as u8).unwrap()),
        access_log: false,
        upgrade: None,
        proxies: None,
        body_limits: Default::default(),
        admission: Some(Arc::clone(&admission)),
        max_requests: None,
        write_timeout: None,
        static_files: None,
    });
    Flow {
        shared,
        senders,
        admission,
    }
}

impl Flow {
    /// A new HTTP/1.1 connection served by the real handler.
    fn connect(&self) -> DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let shared = Arc::clone(&self.shared);
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
        client
    }

    fn calls(&self) -> usize {
        *crate::bridge::lock(&self.shared.interface.calls)
    }
}

/// Reads until `want` has been seen (or the connection closed); returns everything read.
async fn read_until(client: &mut DuplexStream, want: &str) -> String {
    let mut got = Vec::new();
    let read = async {
        loop {
            if String::from_utf8_lossy(&got).contains(want) {
                return;
            }
            let mut chunk = [0u8; 4096];
            let n = client.read(&mut chunk).await.unwrap();
            if n == 0 {
                return;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no answer");
    String::from_utf8_lossy(&got).into_owned()
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn a_streamed_body_holds_its_permit_until_it_ends() {
    let mut f = flow(1);
    let mut first = f.connect();
    first.write_all(GET).await.unwrap();
    let head = read_until(&mut first, "\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = f.senders.recv().await.unwrap();
    assert_eq!(f.admission.in_flight(), 1, "the head is out, the body is not over");

    // Meanwhile another request is refused without reaching the app.
    let mut second = f.connect();
    second.write_all(GET).await.unwrap();
    let refused = read_until(&mut second, "retry shortly").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1\r\n"), "{refused}");
    assert!(refused.contains("connection: close\r\n"), "{refused}");
    assert_eq!(f.calls(), 1);
    // `connection: close`: the server closes its end.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut rest))
        .await
        .expect("the refused connection stayed open")
        .unwrap();

    body.send(Ok(Bytes::from_static(b"done"))).await.unwrap();
    drop(body);
    let tail = read_until(&mut first, "0\r\n\r\n").await;
    assert!(tail.contains("done"), "{tail}");
    tokio::time::timeout(Duration::from_secs(5), async {
        while f.admission.in_flight() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the permit was not given back when the body ended");

    // And the next request is admitted again, on the kept-alive connection.
    first.write_all(GET).await.unwrap();
    assert!(read_until(&mut first, "\r\n\r\n").await.starts_with("HTTP/1.1 200"));
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn a_client_leaving_mid_body_gives_the_permit_back() {
    let mut f = flow(1);
    let mut client = f.connect();
    client.write_all(GET).await.unwrap();
    read_until(&mut client, "\r\n\r\n").await;
    let _body = f.senders.recv().await.unwrap();
    assert_eq!(f.admission.in_flight(), 1);
    drop(client);
    tokio::time::timeout(Duration::from_secs(5), async {
        while f.admission.in_flight() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the dropped body kept its permit");
}

#[tokio::test]
async fn refusals_queue_one_warning_for_the_loop_thread() {
    let f = flow(1);
    let mut holder = f.connect();
    holder.write_all(GET).await.unwrap();
    read_until(&mut holder, "\r\n\r\n").await;
    for _ in 0..3 {
        let mut client = f.connect();
        client.write_all(GET).await.unwrap();
        assert!(read_until(&mut client, "retry shortly")
            .await
            .starts_with("HTTP/1.1 503"));
    }
    // One warning job for the three refusals (they came within a second).
    assert_eq!(f.shared.bridge.queued(), 1);
}
