//! Serving one connection: TLS handshake, choosing HTTP/1.1 or HTTP/2 (ALPN, or the HTTP/2
//! preface on cleartext), hyper, and draining on graceful shutdown.
//!
//! Draining never drops a request the client has already sent. Once the worker stops, every
//! HTTP/1 response carries `connection: close`, so a connection closes right after the request
//! it is serving (or the next one it receives). Only a connection that stays idle for
//! `IDLE_GRACE` is closed without a request, which is what a keep-alive timeout does at any
//! time. (hyper's `graceful_shutdown` alone closes an HTTP/1 connection with no request in
//! progress at once: one accepted just before the stop whose request is not read yet, or a
//! keep-alive connection whose next request is on its way; both requests would fail.) HTTP/2
//! connections get GOAWAY at once: in-flight streams finish and clients know to retry others.
//! A connection still open at the graceful timeout is dropped where it stands (`drain.rs`).
//!
//! The keep-alive timeout closes a connection idle that long (see [`super::activity`]):
//! HTTP/1 at once, HTTP/2 after a GOAWAY. The write timeout and the HTTP/2 flood guard live in
//! the connection's byte stream ([`Guarded`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONNECTION};
use http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::{service_fn, HttpService};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncReadExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;

use super::activity::{Activity, Tracked};
use super::admission::Refused;
use super::default_headers::DefaultHeaders;
use super::drain::Token;
use super::error_head::StampServer;
use super::guarded::Guarded;
use super::handler::{handle, Interface, Shared};
use super::io::Io;
use super::sendfile::Sending;
use super::signal::{Signal, IDLE, STOP};
use super::stream_task::StreamExec;
use crate::bridge::{Level, Outbox};
use crate::config::{EngineConfig, HttpMode};
use crate::metrics::{self, TimeoutKind};
use crate::net::{ConnInfo, Stream};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long an HTTP/1 connection with no request in progress may still send one once the
/// worker stops (see the module docs). It bounds how long idle keep-alive connections delay a
/// stop.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// How a worker speaks HTTP: hyper's builders, the TLS acceptor, timeouts. Built once.
pub(crate) struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<StreamExec>,
    mode: HttpMode,
    tls: Option<TlsAcceptor>,
    /// Bound on the TLS handshake and on reading the first bytes (protocol detection).
    first_read_timeout: Duration,
    /// `--server-header`: `server: granian` on hyper's own error answers and the 505 refusal.
    server_header: bool,
    /// Added to every response the service returns (`--server-header`, `--header`).
    default_headers: Arc<DefaultHeaders>,
    pub(crate) keep_alive_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// h2's own flood bounds, set explicitly (they are its defaults; see `flood::budget` for the
/// frames it does not bound): streams a client may reset before the server accepted them, and
/// streams the server may reset for the client's protocol errors, over a connection's life.
const H2_MAX_PENDING_ACCEPT_RESETS: usize = 20;
const H2_MAX_LOCAL_ERROR_RESETS: usize = 1024;

impl Protocols {
    /// `websockets`: accept RFC 8441 extended CONNECT on HTTP/2.
    pub(crate) fn new(
        cfg: &EngineConfig,
        tls: Option<TlsAcceptor>,
        websockets: bool,
        default_headers: DefaultHeaders,
    ) -> Self {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .keep_alive(cfg.http1.keep_alive)
            .max_buf_size(cfg.http1.max_buffer_size)
            .header_read_timeout(cfg.http1.header_read_timeout)
            .pipeline_flush(cfg.http1.pipeline_flush)
            .max_headers(cfg.http1.max_headers)
            .auto_date_header(cfg.date_header)
            .half_close(false)
            // Queue the bodies' bytes and write them with `writev`, never copied into one
            // buffer: the file placeholders of `sendfile.rs` must reach `Io` as they are.
            .writev(true);
        let c2 = &cfg.http2;
        // Each stream's task can be ended by the engine (a response cut by the write timeout).
        let mut h2 = http2::Builder::new(StreamExec);
        h2.timer(TokioTimer::new())
            .initial_connection_window_size(c2.initial_connection_window_size)
            .initial_stream_window_size(c2.initial_stream_window_size)
            // After the window sizes: hyper's window-size setters turn adaptive flow control off.
            .adaptive_window(c2.adaptive_window)
            .keep_alive_interval(c2.keep_alive_interval)
            .keep_alive_timeout(c2.keep_alive_timeout)
            .max_concurrent_streams(c2.max_concurrent_streams)
            .max_frame_size(c2.max_frame_size)
            .max_header_list_size(c2.max_headers_size)
            .max_send_buf_size(c2.max_send_buffer_size)
            .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESETS)
            .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESETS)
            .auto_date_header(cfg.date_header);
        if websockets {
            h2.enable_connect_protocol();
        }
        Self {
            h1,
            h2,
            mode: cfg.http_mode,
            tls,
            first_read_timeout: cfg.http1.header_read_timeout,
            server_header: cfg.server_header,
            default_headers: Arc::new(default_headers),
            keep_alive_timeout: cfg.keep_alive_timeout,
            write_timeout: cfg.write_timeout,
        }
    }

    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// What a connection task needs besides its socket.
pub(crate) struct ConnCtx<I> {
    pub(crate) shared: Arc<Shared<I>>,
    pub(crate) protocols: Arc<Protocols>,
    /// Where the app's responses come back to this runtime.
    pub(crate) outbox: Arc<Outbox>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    H1,
    H2,
}

/// Reads until the bytes tell HTTP/2 prior knowledge from HTTP/1 (one read, usually).
/// `None` when the peer closed or said nothing in time.
async fn detect(stream: &mut Stream, limit: Duration) -> Option<(Version, Bytes)> {
    let mut buf = BytesMut::with_capacity(2048);
    loop {
        let n = tokio::time::timeout(limit, stream.read_buf(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        let seen = buf.len().min(H2_PREFACE.len());
        if buf[..seen] != H2_PREFACE[..seen] {
            return Some((Version::H1, buf.freeze()));
        }
        if seen == H2_PREFACE.len() {
            return Some((Version::H2, buf.freeze()));
        }
    }
}

/// The answer to an HTTP/1 request on a cleartext listener that serves HTTP/2 only (`--http 2`).
const HTTP1_REFUSED: &[u8] = b"HTTP/1.1 505 HTTP Version Not Supported\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 44\r\n\
connection: close\r\n\r\n\
This server speaks HTTP/2 only (--http 2).\r\n";

/// [`HTTP1_REFUSED`], with `server: granian` after its status line when `server_header`.
fn http1_refused(server_header: bool) -> Vec<u8> {
    let line_end = HTTP1_REFUSED.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut out = HTTP1_REFUSED[..line_end].to_vec();
    if server_header {
        out.extend_from_slice(b"server: granian\r\n");
    }
    out.extend_from_slice(&HTTP1_REFUSED[line_end..]);
    out
}

/// How long a refused HTTP/1 client may take to read the answer and close.
const REFUSE_LINGER: Duration = Duration::from_secs(1);

/// Answers an HTTP/1 client of an HTTP/2-only listener with a 505 instead of a silent close.
/// The rest of its request is read and dropped for a moment, so that closing with unread data
/// does not reset the connection before the client has read the answer.
async fn refuse_http1(mut stream: Stream, server_header: bool) {
    use tokio::io::AsyncWriteExt;
    if stream.write_all(&http1_refused(server_header)).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(REFUSE_LINGER, async {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// A hyper connection that can be asked to finish gracefully.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    /// Closing an idle connection: HTTP/2 says GOAWAY first; HTTP/1 just closes.
    const GOAWAY_WHEN_IDLE: bool;

    fn graceful(self: Pin<&mut Self>);
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, S, B> Graceful for http1::UpgradeableConnection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    Self: Future<Output = Result<(), hyper::Error>>,
{
    const GOAWAY_WHEN_IDLE: bool = false;

    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for http2::Connection<I, S, E>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
    Self: Future<Output = Result<(), hyper::Error>>,
{
    const GOAWAY_WHEN_IDLE: bool = true;

    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<C: Graceful> Graceful for Sending<C> {
    const GOAWAY_WHEN_IDLE: bool = C::GOAWAY_WHEN_IDLE;

    fn graceful(self: Pin<&mut Self>) {
        self.with(Graceful::graceful);
    }
}

/// Closes a connection the keep-alive timeout found idle (nothing in progress, nothing
/// received): HTTP/1 at once; HTTP/2 says GOAWAY and closes once no stream is open, a grace
/// later (streams the client opened before it saw the GOAWAY are served).
async fn close_idle<C: Graceful>(mut conn: Pin<&mut C>, activity: &Activity) -> Result<(), hyper::Error> {
    if !C::GOAWAY_WHEN_IDLE {
        return Ok(());
    }
    conn.as_mut().graceful();
    loop {
        tokio::select! {
            res = conn.as_mut() => return res,
            () = tokio::time::sleep(IDLE_GRACE) => if !activity.is_busy() {
                return Ok(());
            },
        }
    }
}

/// Serves `conn` until it ends, or until its `signal` says the worker stops ([`STOP`]) or the
/// keep-alive timeout found it idle ([`IDLE`], raised only for a connection whose `activity`
/// the sweeper watches); once the worker stops, lets it run `grace` longer (a request on its
/// way is still served), then asks it to finish gracefully. Between two wake-ups of the
/// connection this costs one atomic load: no timer, no channel.
async fn drive<C: Graceful>(
    conn: C,
    signal: &Signal,
    grace: Duration,
    activity: Option<&Activity>,
) -> Result<(), hyper::Error> {
    tokio::pin!(conn);
    let raised = std::future::poll_fn(|cx| {
        if let Poll::Ready(res) = conn.as_mut().poll(cx) {
            return Poll::Ready(Err(res));
        }
        signal.poll(cx, STOP | IDLE).map(Ok)
    })
    .await;
    match raised {
        Err(res) => return res,
        Ok(flags) if flags & STOP == 0 => {
            if let Some(activity) = activity {
                metrics::timeout(TimeoutKind::KeepAlive);
                return close_idle(conn.as_mut(), activity).await;
            }
        }
        Ok(_) => {}
    }
    if !grace.is_zero() {
        tokio::select! {
            res = conn.as_mut() => return res,
            () = tokio::time::sleep(grace) => {}
        }
    }
    conn.as_mut().graceful();
    conn.await
}

/// `e` and its sources, `: `-separated (hyper's own message only says "connection error").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Serves a connection on its own task. `alive` is held until it ends: the drain waits for it
/// and, at the graceful timeout, drops it wherever it stands (handshake, request, response;
/// see `drain.rs`).
pub(crate) fn spawn_connection<I: Interface>(
    stream: Stream,
    info: Arc<ConnInfo>,
    permit: OwnedSemaphorePermit,
    ctx: ConnCtx<I>,
    alive: Token,
) {
    tokio::spawn(async move {
        let alive = alive;
        let open = OpenConnection::start();
        alive.unless_cut(serve_connection(stream, info, ctx, &alive)).await;
        drop(open);
        drop(permit);
    });
}

/// A connection counted in the metrics (`--metrics`) while it is open, cut or not.
struct OpenConnection;

impl OpenConnection {
    fn start() -> Self {
        metrics::record(|c| {
            c.connections_handled += 1;
            c.connections_active += 1;
        });
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::record(|c| c.connections_active -= 1);
    }
}

/// What [`spawn_connection`] runs: the handshake, then hyper until the connection ends.
async fn serve_connection<I: Interface>(stream: Stream, info: Arc<ConnInfo>, ctx: ConnCtx<I>, alive: &Token) {
    let ConnCtx {
        shared,
        protocols,
        outbox,
    } = ctx;
    let bridge = Arc::clone(&shared.bridge);
    let limit = protocols.first_read_timeout;
    if let Some(idle) = protocols.keep_alive_timeout {
        // Before the TLS handshake or the protocol detection: a connection that sends
        // nothing at all is idle from the start (and silent past the first-read bound).
        if !stream.sends_within(idle.min(limit)).await {
            return;
        }
    }
    let (io, version) = match (&protocols.tls, stream) {
        // TLS on every listener it was asked for, Unix sockets included.
        (Some(acceptor), stream) => {
            let tls = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    metrics::record(|c| c.connections_err += 1);
                    bridge.log(Level::Debug, || format!("TLS handshake failed: {e}"));
                    return;
                }
                Err(_) => {
                    metrics::record(|c| {
                        c.connections_err += 1;
                        c.timeouts[TimeoutKind::HeaderRead as usize] += 1;
                    });
                    return;
                }
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2") || protocols.mode == HttpMode::Http2;
            (Io::Tls(Box::new(tls)), if h2 { Version::H2 } else { Version::H1 })
        }
        (_, mut stream) => match protocols.mode {
            HttpMode::Http1 => (Io::plain(Bytes::new(), stream, true), Version::H1),
            mode => match detect(&mut stream, limit).await {
                Some((Version::H1, _)) if mode == HttpMode::Http2 => {
                    refuse_http1(stream, protocols.server_header).await;
                    return;
                }
                Some((version, prefix)) => (Io::plain(prefix, stream, version == Version::H1), version),
                None => return,
            },
        },
    };
    let files = io.files();
    let activity = protocols.keep_alive_timeout.map(|_| Activity::new());
    if let Some(activity) = &activity {
        alive.watch_idle(Arc::clone(activity));
    }
    let io = Guarded::new(io, protocols.write_timeout, activity.clone(), version == Version::H2);
    let stopping = Arc::clone(alive.signal());
    let defaults = (!protocols.default_headers.is_empty()).then(|| Arc::clone(&protocols.default_headers));
    let requests = activity.clone();
    let svc = service_fn(move |req| {
        // An HTTP/1.1 connection is busy until hyper drops the response body (keep-alive
        // timeout); HTTP/2 streams are followed by the flood guard's scanner.
        let busy = requests
            .as_ref()
            .filter(|_| version == Version::H1)
            .map(Activity::begin);
        let response = handle(req, Arc::clone(&info), Arc::clone(&shared), Arc::clone(&outbox));
        let stopping = Arc::clone(&stopping);
        let defaults = defaults.clone();
        // Boxed: HTTP/2 spawns one task per stream, and moving this future (the whole request
        // state) into each task's cell by value was a measurable share of the time.
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(defaults) = &defaults {
                defaults.apply(response.headers_mut());
            }
            if version == Version::H1 && stopping.is(STOP) && response.status() != StatusCode::SWITCHING_PROTOCOLS {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Refused>(response.map(|body| Tracked::new(body, busy)))
        })
    });
    let signal = alive.signal();
    let res = match version {
        Version::H1 => {
            let io = TokioIo::new(StampServer::new(io, protocols.server_header));
            let conn = protocols.h1.serve_connection(io, svc).with_upgrades();
            match files {
                Some(files) => drive(Sending::new(conn, files), signal, IDLE_GRACE, activity.as_deref()).await,
                None => drive(conn, signal, IDLE_GRACE, activity.as_deref()).await,
            }
        }
        Version::H2 => {
            let io = TokioIo::new(io);
            drive(
                protocols.h2.serve_connection(io, svc),
                signal,
                Duration::ZERO,
                activity.as_deref(),
            )
            .await
        }
    };
    if let Err(e) = res {
        metrics::record(|c| {
            c.connections_err += 1;
            c.timeouts[TimeoutKind::HeaderRead as usize] += u64::from(e.is_timeout());
        });
        bridge.log(Level::Debug, || {
            format!("connection closed with error: {}", with_causes(&e))
        });
    }
}

#[cfg(test)]
#[path = "conn_drain_tests.rs"]
mod drain_tests;

#[cfg(test)]
mod tests {
    //! Draining (see the module docs), on an in-memory connection with a plain hyper service.
    use std::convert::Infallible;

    use super::*;
    use crate::http::drain::Drain;
    use http_body_util::Full;
    use tokio::io::{AsyncWriteExt, DuplexStream};

    const GRACE: Duration = Duration::from_millis(100);

    /// Serves one HTTP/1.1 connection through [`drive`], tracked by a drain; returns the client
    /// end, the drain (its `stop` is the stop switch) and the connection's task.
    fn serve() -> (DuplexStream, Arc<Drain>, tokio::task::JoinHandle<()>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let stop = Drain::new(Duration::from_secs(30));
        let token = stop.track();
        let task = tokio::spawn(async move {
            let svc = service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(server), svc)
                .with_upgrades();
            let _ = drive(conn, token.signal(), GRACE, None).await;
        });
        (client, stop, task)
    }

    async fn read_to_close(client: &mut DuplexStream) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
            .await
            .expect("the connection stayed open")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn an_idle_connection_closes_after_the_grace_once_stopped() {
        let (mut client, stop, task) = serve();
        stop.stop();
        assert_eq!(read_to_close(&mut client).await, "");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_request_sent_during_the_grace_is_still_served() {
        let (mut client, stop, task) = serve();
        stop.stop();
        client.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let got = read_to_close(&mut client).await;
        assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
        assert!(got.ends_with("ok"), "{got}");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_connection_keeps_serving_until_stopped() {
        let (mut client, stop, task) = serve();
        for _ in 0..3 {
            client.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
            let mut buf = [0u8; 256];
            let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
        }
        assert!(!task.is_finished());
        stop.stop();
        read_to_close(&mut client).await;
        task.await.unwrap();
    }

    fn idle_timeout_conn(server: DuplexStream) -> impl Graceful {
        let svc = service_fn(|_req| async {
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
        });
        http1::Builder::new()
            .serve_connection(TokioIo::new(server), svc)
            .with_upgrades()
    }

    /// A connection's token and activity, watched by a sweeper with a 5 s keep-alive timeout.
    fn watched_for_idle() -> (Token, Arc<Activity>) {
        let drain = Drain::new(Duration::from_secs(30));
        tokio::spawn(Arc::clone(&drain).sweep_idle(Duration::from_secs(5)));
        let token = drain.track();
        let activity = Activity::new();
        token.watch_idle(Arc::clone(&activity));
        (token, activity)
    }

    #[tokio::test(start_paused = true)]
    async fn the_keep_alive_timeout_closes_an_idle_connection() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (token, activity) = watched_for_idle();
        drive(idle_timeout_conn(server), token.signal(), GRACE, Some(&activity))
            .await
            .unwrap();
        assert_eq!(read_to_close(&mut client).await, "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_outlives_the_keep_alive_timeout() {
        let (_client, server) = tokio::io::duplex(1024);
        let (token, activity) = watched_for_idle();
        let _request = activity.begin();
        let served = drive(idle_timeout_conn(server), token.signal(), GRACE, Some(&activity));
        assert!(tokio::time::timeout(Duration::from_secs(60), served).await.is_err());
    }

    #[test]
    fn the_http1_refusal_says_server_only_when_asked() {
        let with = http1_refused(true);
        assert!(with.starts_with(b"HTTP/1.1 505 HTTP Version Not Supported\r\nserver: granian\r\ncontent-type"));
        assert_eq!(http1_refused(false), HTTP1_REFUSED);
        assert!(with.ends_with(b"(--http 2).\r\n"));
    }

    #[tokio::test]
    async fn the_h2_preface_is_told_apart_from_http1() {
        let (mut a, b) = tokio::net::UnixStream::pair().unwrap();
        a.write_all(H2_PREFACE).await.unwrap();
        let mut stream = Stream::Unix(b);
        let (version, prefix) = detect(&mut stream, Duration::from_secs(5)).await.unwrap();
        assert!(version == Version::H2 && prefix.as_ref() == H2_PREFACE);
        let (mut a, b) = tokio::net::UnixStream::pair().unwrap();
        a.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut stream = Stream::Unix(b);
        let (version, _) = detect(&mut stream, Duration::from_secs(5)).await.unwrap();
        assert!(version == Version::H1);
        drop(a);
    }
}
