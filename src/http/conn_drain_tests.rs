//! The graceful timeout as a connection sees it: [`drive`] run under a drain [`Token`], as
//! `spawn_connection` runs it, on an in-memory connection with a plain hyper service.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::oneshot;

use super::*;
use crate::http::drain::{Drain, Settled};

const TIMEOUT: Duration = Duration::from_secs(5);
const GRACE: Duration = Duration::from_millis(100);

/// Sets its flag when dropped armed: the service future of a request was dropped before it
/// answered.
struct SetOnDrop(Option<Arc<AtomicBool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// What `serve` returns: the client end, the connection's task (`None`: it was cut), a signal
/// that `/slow` reached the service, and the flag set when its future is dropped.
type Served = (
    DuplexStream,
    tokio::task::JoinHandle<Option<Result<(), hyper::Error>>>,
    oneshot::Receiver<()>,
    Arc<AtomicBool>,
);

/// One HTTP/1.1 connection whose `/slow` requests never get an answer.
fn serve(drain: &Arc<Drain>) -> Served {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let dropped = Arc::new(AtomicBool::new(false));
    let (reached_tx, reached) = oneshot::channel();
    let reached_tx = Arc::new(std::sync::Mutex::new(Some(reached_tx)));
    let flag = Arc::clone(&dropped);
    let svc = service_fn(move |req: http::Request<Incoming>| {
        let slow = req.uri().path() == "/slow";
        let mut guard = SetOnDrop(Some(Arc::clone(&flag)));
        if slow {
            if let Some(tx) = reached_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
        async move {
            if slow {
                std::future::pending::<()>().await;
            }
            guard.0.take();
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    let token = drain.track();
    let task = tokio::spawn(async move {
        let conn = http1::Builder::new()
            .serve_connection(TokioIo::new(server), svc)
            .with_upgrades();
        token.unless_cut(drive(conn, token.signal(), GRACE, None)).await
    });
    (client, task, reached, dropped)
}

#[tokio::test(start_paused = true)]
async fn a_request_still_running_at_the_graceful_timeout_is_dropped_and_its_connection_closed() {
    let drain = Drain::new(TIMEOUT);
    let (mut client, task, reached, dropped) = serve(&drain);
    client
        .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    reached.await.unwrap();
    let started = tokio::time::Instant::now();
    drain.stop();
    let mut cut = None;
    assert_eq!(drain.settle(|n| cut = Some(n)).await, Settled::Cut);
    assert_eq!(started.elapsed(), TIMEOUT, "waited the whole graceful timeout");
    assert_eq!(cut, Some(1));
    assert!(task.await.unwrap().is_none(), "the connection was cut");
    assert!(dropped.load(Ordering::SeqCst), "the request's future was dropped");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "no response was made up: {rest:?}");
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_finishes_in_time_is_not_cut() {
    let drain = Drain::new(TIMEOUT);
    let (mut client, task, _reached, dropped) = serve(&drain);
    client.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let n = client.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    drain.stop();
    // Idle now: closed after the short grace, long before the graceful timeout.
    assert_eq!(drain.settle(|_| panic!("nothing to cut")).await, Settled::Drained);
    assert!(matches!(task.await.unwrap(), Some(Ok(()))));
    assert!(!dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_zero_graceful_timeout_cuts_an_in_flight_request_at_once() {
    let drain = Drain::new(Duration::ZERO);
    let (mut client, task, reached, dropped) = serve(&drain);
    client
        .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    reached.await.unwrap();
    let started = tokio::time::Instant::now();
    drain.stop();
    assert_eq!(drain.settle(|_| {}).await, Settled::Cut);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(task.await.unwrap().is_none());
    assert!(dropped.load(Ordering::SeqCst));
}
