//! Request bodies as the interfaces see them, and the response body type hyper drains.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::{mpsc, oneshot};

use super::body_failure::{lingers, BodyFailure, BodyLimits, LINGER};
use super::disconnect::Disconnect;
use super::file_body::FileBody;
use crate::bridge::{Bridge, Level};

/// Bodies up to this size (by Content-Length) are read ahead before the app is called, as far
/// as they have already arrived, so the app's first read usually completes without a round trip
/// to the network thread.
pub(crate) const PREFETCH_LIMIT: u64 = 64 * 1024;

/// How many times the read-ahead lets the connection task run (to move bytes already received
/// into the body channel) without any new data before it gives up and calls the app.
const READ_AHEAD_YIELDS: u32 = 2;

/// The request body handed to an interface.
pub(crate) enum RequestBody {
    /// Entirely received already (possibly empty).
    Full(Bytes),
    /// Still arriving; read on the runtime thread.
    Stream(BodyStream),
}

/// One item of [`BodyStream::forward`]: a chunk, or why the body broke off.
pub(crate) type Forwarded = Result<Bytes, String>;

/// Why a streamed request body could not be read to its end.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The engine refused it (see `body_failure`): it answers for the app, or cuts the response.
    Refused(BodyFailure),
    /// The client went away (a reset connection or stream, a body cut short).
    Gone(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(failure) => f.write_str(failure.describe()),
            Self::Gone(why) => f.write_str(why),
        }
    }
}

/// A request body still arriving, with what the read-ahead already took from it in front.
pub(crate) struct BodyStream {
    head: Option<Bytes>,
    /// `None` once the body was refused (dropped, or left to [`linger`]).
    inc: Option<Incoming>,
    limits: BodyLimits,
    /// Bytes received so far (the read-ahead's included), against `limits.max_size`.
    received: u64,
    h2: bool,
    /// Why the body was refused, once it was: every later read says so again.
    refused: Option<BodyFailure>,
    /// Told when the body is refused, so that the request flow can answer for the app if it
    /// has not answered yet (or cut its response); the request's disconnect is marked first and
    /// fired after, so the app knows why its read failed by the time it learns that it did.
    watch: Option<(oneshot::Sender<BodyFailure>, Arc<Disconnect>)>,
}

impl RequestBody {
    /// Reads small bodies ahead, as far as they have already arrived; leaves large, chunked or
    /// `Expect: 100-continue` ones untouched (the app decides whether to read those: polling
    /// them would send `100 Continue`). `Err` when the body is refused before the app runs: a
    /// `Content-Length` over the cap, or a body that broke off during the read-ahead.
    pub(crate) async fn prefetch(
        mut body: Incoming,
        headers: &http::HeaderMap,
        limits: BodyLimits,
        h2: bool,
    ) -> Result<Self, BodyFailure> {
        if body.is_end_stream() {
            return Ok(Self::Full(Bytes::new()));
        }
        let declared = body.size_hint().exact();
        let expects = headers.contains_key(http::header::EXPECT);
        if let Some(failure) = limits.check_declared(declared) {
            if lingers(failure, h2, expects) {
                linger(body);
            }
            return Err(failure);
        }
        let small = declared.is_some_and(|n| n <= PREFETCH_LIMIT);
        let stream = |head, inc| Self::Stream(BodyStream::new(head, inc, limits, h2));
        if !small || expects {
            return Ok(stream(None, body));
        }
        let mut parts = Collected::default();
        let mut idle = 0;
        loop {
            // One poll of the body; on `Pending`, the task wakes itself at once (a plain
            // run-queue push, no timer and no I/O wait) so the connection task (on HTTP/1 the same
            // task) can move bytes already received into the body channel. After
            // `READ_AHEAD_YIELDS` such turns without data, what has not arrived is not waited for.
            let polled = std::future::poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
                Poll::Pending if idle < READ_AHEAD_YIELDS => {
                    idle += 1;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Poll::Pending => Poll::Ready(None),
                Poll::Ready(frame) => Poll::Ready(Some(frame)),
            })
            .await;
            match polled {
                Some(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        parts.push(data);
                    }
                    idle = 0;
                }
                // A malformed body, or a client gone (who never reads the answer).
                Some(Some(Err(_))) => return Err(BodyFailure::Malformed),
                Some(None) => return Ok(Self::Full(parts.into_bytes())),
                None => return Ok(stream(parts.into_head(), body)),
            }
            if body.is_end_stream() {
                return Ok(Self::Full(parts.into_bytes()));
            }
        }
    }
}

/// Reads what is left of a refused HTTP/1 upload and drops it, for [`LINGER`] at most, so that
/// the connection does not close on unread bytes (see `body_failure::lingers`).
fn linger(mut inc: Incoming) {
    tokio::spawn(async move {
        let drain = async { while let Some(Ok(_)) = inc.frame().await {} };
        let _ = tokio::time::timeout(LINGER, drain).await;
    });
}

/// The next frame of `inc`, or `None` when none came within `limit`. The timer is set up only
/// when the frame is not there at once: a body that keeps up never touches the timer wheel.
async fn next_frame(inc: &mut Incoming, limit: Option<Duration>) -> Option<Option<Result<Frame<Bytes>, hyper::Error>>> {
    let mut next = inc.frame();
    let Some(limit) = limit else {
        return Some(next.await);
    };
    match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut next).poll(cx))).await {
        Poll::Ready(frame) => Some(frame),
        Poll::Pending => tokio::time::timeout(limit, next).await.ok(),
    }
}

/// Chunks read ahead; one copy only when there are several.
#[derive(Default)]
struct Collected {
    first: Option<Bytes>,
    rest: Vec<u8>,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        match self.first.take() {
            None if self.rest.is_empty() => self.first = Some(data),
            Some(first) => {
                self.rest.extend_from_slice(&first);
                self.rest.extend_from_slice(&data);
            }
            None => self.rest.extend_from_slice(&data),
        }
    }

    fn into_bytes(self) -> Bytes {
        self.first.unwrap_or_else(|| Bytes::from(self.rest))
    }

    fn into_head(self) -> Option<Bytes> {
        Some(self.into_bytes()).filter(|b| !b.is_empty())
    }
}

/// Whether a body read error means the request itself is malformed (hyper's decoder rejected
/// the framing: a bad chunk size line, an oversized chunk extension, ...) rather than a client
/// that went away (a body cut short, a reset connection, an HTTP/2 stream reset).
pub(crate) fn is_malformed(err: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return matches!(io.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData);
        }
        source = s.source();
    }
    false
}

impl BodyStream {
    fn new(head: Option<Bytes>, inc: Incoming, limits: BodyLimits, h2: bool) -> Self {
        Self {
            received: head.as_ref().map_or(0, |h| h.len() as u64),
            head,
            inc: Some(inc),
            limits,
            h2,
            refused: None,
            watch: None,
        }
    }

    /// Resolves with the reason if the body is refused while it is read (malformed, over the
    /// cap, stalled); `disconnect` is marked with it just before, and fired just after. Closed
    /// without a value when the body ends otherwise.
    pub(crate) fn on_refused(&mut self, disconnect: Arc<Disconnect>) -> oneshot::Receiver<BodyFailure> {
        let (tx, rx) = oneshot::channel();
        self.watch = Some((tx, disconnect));
        rx
    }

    /// Refuses the body: what is left of it is dropped (or lingered over), the request flow is
    /// told, and the app sees its client gone.
    fn refuse(&mut self, failure: BodyFailure) -> BodyError {
        self.refused = Some(failure);
        if let Some(inc) = self.inc.take() {
            if lingers(failure, self.h2, false) {
                linger(inc);
            }
        }
        if let Some((tx, disconnect)) = self.watch.take() {
            disconnect.mark_refused(failure);
            let _ = tx.send(failure);
            disconnect.fire();
        }
        BodyError::Refused(failure)
    }

    /// Reads the next data chunk; `None` at the end.
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        if let Some(head) = self.head.take() {
            return Ok(Some(head));
        }
        loop {
            if let Some(failure) = self.refused {
                return Err(BodyError::Refused(failure));
            }
            let Some(inc) = self.inc.as_mut() else {
                return Ok(None);
            };
            let Some(frame) = next_frame(inc, self.limits.read_timeout).await else {
                crate::metrics::timeout(crate::metrics::TimeoutKind::BodyRead);
                return Err(self.refuse(BodyFailure::Stalled));
            };
            match frame {
                None => return Ok(None),
                Some(Err(e)) if is_malformed(&e) => return Err(self.refuse(BodyFailure::Malformed)),
                Some(Err(e)) => return Err(BodyError::Gone(e.to_string())),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    if data.is_empty() {
                        continue;
                    }
                    self.received += data.len() as u64;
                    if self.limits.exceeded(self.received) {
                        return Err(self.refuse(BodyFailure::TooLarge));
                    }
                    return Ok(Some(data));
                }
            }
        }
    }

    /// Whether nothing is left to read.
    pub(crate) fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.inc.as_ref().map_or(true, Incoming::is_end_stream)
    }

    /// The body's blocking face: a task on `rt` pulls chunks and forwards them through a
    /// channel of `depth` (a full channel stops the reading, so an upload read piece by piece
    /// is never held whole); the reader waits on the receiver off the runtime
    /// (`blocking_recv`). The task stops at the end of the body, on an error (forwarded last)
    /// or when the receiver is dropped. (The awaitable face reads with `next_chunk` directly.)
    pub(crate) fn forward(mut self, rt: &tokio::runtime::Handle, depth: usize) -> mpsc::Receiver<Forwarded> {
        let (tx, rx) = mpsc::channel(depth);
        rt.spawn(async move {
            loop {
                let res = tokio::select! {
                    biased;
                    () = tx.closed() => return,
                    res = self.next_chunk() => res,
                };
                match res {
                    Ok(Some(chunk)) => {
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string())).await;
                        return;
                    }
                }
            }
        });
        rx
    }

    /// Reads the body to its end.
    pub(crate) async fn read_all(&mut self) -> Result<Bytes, BodyError> {
        let mut parts = Collected::default();
        while let Some(chunk) = self.next_chunk().await? {
            parts.push(chunk);
        }
        Ok(parts.into_bytes())
    }
}

/// One item of a streamed response body: a chunk, or an error that aborts the response (the
/// connection is closed instead of ending the body as if it were complete).
pub(crate) type Chunk = Result<Bytes, io::Error>;

/// Aborts a streamed response once hyper has taken every chunk queued before the failure, so
/// the client still receives what the application produced (an error sent right behind the last
/// chunk would make hyper close the connection before flushing it). The body then ends with an
/// error: the connection is closed, and a cut response never looks complete.
pub(crate) fn abort_stream(tx: mpsc::Sender<Chunk>, rt: &tokio::runtime::Handle, why: &'static str) {
    rt.spawn(async move {
        // All permits free again = the queue is empty; fails only when the client is gone.
        if let Ok(permits) = tx.reserve_many(tx.max_capacity()).await {
            drop(permits);
        }
        // Let the connection task flush what it just took before it sees the error.
        tokio::task::yield_now().await;
        let _ = tx.send(Err(io::Error::other(why))).await;
    });
}

/// Why an item did not get into a bounded queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unsent {
    /// The receiving side is gone.
    Closed,
    /// No room came for the whole limit.
    TimedOut,
}

/// Puts `item` into `tx` once there is room, waiting `limit` at most (`None`: as long as it
/// takes). The bound is per item: every item that gets in starts the next wait afresh, so it
/// only runs out when the receiving side took nothing for `limit`.
pub(crate) async fn send_within<T>(tx: &mpsc::Sender<T>, item: T, limit: Option<Duration>) -> Result<(), Unsent> {
    let sent = match limit {
        None => tx.send(item).await,
        Some(limit) => tokio::time::timeout(limit, tx.send(item))
            .await
            .map_err(|_| Unsent::TimedOut)?,
    };
    sent.map_err(|_| Unsent::Closed)
}

/// Why a response is cut when its client took none of it for the write timeout.
const NOT_TAKEN: &str = "write timeout: the client took none of the response (--write-timeout)";

/// The one wait of a streamed response's producer (every interface), once the queue towards
/// hyper is full: queues `chunk` when there is room, waiting `limit` (`--write-timeout`) at
/// most. When no room comes for that long, the client took nothing all that time (over
/// HTTP/2, typically a stream whose flow-control window it never opens, which the connection's
/// own write timeout does not see): the response is cut. `disconnect` is cut (the app is told
/// its client is gone; over HTTP/2 the stream's task drops the stream, which h2 resets, see
/// `stream_task`) and the body ends with an error behind what is queued (HTTP/1: the connection
/// closes). Returns whether `chunk` got in.
pub(crate) async fn wait_for_room(
    tx: mpsc::Sender<Chunk>,
    chunk: Chunk,
    limit: Option<Duration>,
    disconnect: Arc<Disconnect>,
    bridge: Arc<Bridge>,
) -> bool {
    match send_within(&tx, chunk, limit).await {
        Ok(()) => true,
        Err(Unsent::Closed) => false,
        Err(Unsent::TimedOut) => {
            crate::metrics::timeout(crate::metrics::TimeoutKind::Write);
            bridge.log(Level::Debug, || format!("{NOT_TAKEN}: the response is cut"));
            disconnect.cut();
            abort_stream(tx, &tokio::runtime::Handle::current(), NOT_TAKEN);
            false
        }
    }
}

/// The body of every response we send.
pub(crate) enum ResponseBody {
    Empty,
    Full(Option<Bytes>),
    /// Chunks pushed by the app; the body ends when the sender side is dropped.
    Stream {
        rx: mpsc::Receiver<Chunk>,
        /// Fired when the body is dropped before it ended (the client went away mid-stream).
        disconnect: Option<Arc<Disconnect>>,
        ended: bool,
    },
    /// A byte range of a file (static files, ASGI pathsend, RSGI `response_file`).
    File(FileBody),
    /// Another body, with something to do once it has been sent whole, failed, or been dropped
    /// unsent (the access-log line, which must include the time the body took and the bytes
    /// it sent).
    Watched(Box<Watched>),
    /// Another body, cut (ended with an error: the HTTP/1 connection is closed, the HTTP/2 stream
    /// reset) if the request body is refused while it is being sent.
    Guarded(Box<Guarded>),
}

pub(crate) struct Guarded {
    inner: ResponseBody,
    /// `None` once the request body ended without being refused.
    refused: Option<oneshot::Receiver<BodyFailure>>,
}

pub(crate) struct Watched {
    inner: ResponseBody,
    /// Body bytes handed to the connection so far (a plain count: the body is polled by one
    /// task at a time).
    sent: u64,
    on_end: Option<Box<dyn FnOnce(u64) + Send>>,
}

impl Watched {
    fn end(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(self.sent);
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.end();
    }
}

/// Chunks a streamed response may queue ahead of the socket before the app waits (every
/// interface: RSGI `send_*`, ASGI `send`, WSGI iteration / `write`).
pub(crate) const STREAM_QUEUE: usize = 16;

impl ResponseBody {
    /// A streamed body and the sender its chunks go into. `disconnect` fires if the body is
    /// dropped before it ended (the client went away mid-stream); `None` when nobody must be
    /// told (a HEAD response, whose chunks are dropped).
    pub(crate) fn stream(disconnect: Option<Arc<Disconnect>>) -> (mpsc::Sender<Chunk>, Self) {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let body = Self::Stream {
            rx,
            disconnect,
            ended: false,
        };
        (tx, body)
    }

    /// The streamed body of a response to a request with `method`, and the sender for its
    /// chunks. On HEAD nothing is sent (hyper drops the body), so there is no sender: the app's
    /// chunks are dropped and the body's end is not taken for a client that left.
    pub(crate) fn stream_for(
        method: &http::Method,
        disconnect: &Arc<Disconnect>,
    ) -> (Option<mpsc::Sender<Chunk>>, Self) {
        if method == http::Method::HEAD {
            return (None, Self::stream(None).1);
        }
        let (tx, body) = Self::stream(Some(Arc::clone(disconnect)));
        (Some(tx), body)
    }

    /// Whether the app streams this body (its chunks come through the queue of
    /// [`ResponseBody::stream`]).
    pub(crate) fn is_stream(&self) -> bool {
        match self {
            Self::Stream { .. } => true,
            Self::Watched(w) => w.inner.is_stream(),
            Self::Guarded(g) => g.inner.is_stream(),
            Self::Empty | Self::Full(_) | Self::File(_) => false,
        }
    }

    /// This body, calling `on_end` once it has ended (sent whole, failed, or dropped unsent),
    /// with the number of body bytes handed to the connection until then (0 when hyper sends
    /// no body, as for HEAD; for a cut response, what went out before the cut).
    pub(crate) fn on_end(self, on_end: impl FnOnce(u64) + Send + 'static) -> Self {
        Self::Watched(Box::new(Watched {
            inner: self,
            sent: 0,
            on_end: Some(Box::new(on_end)),
        }))
    }

    /// This body, cut if the request body is refused while it is sent (`refused`, from
    /// [`BodyStream::on_refused`], resolves).
    pub(crate) fn cut_if_refused(self, refused: oneshot::Receiver<BodyFailure>) -> Self {
        Self::Guarded(Box::new(Guarded {
            inner: self,
            refused: Some(refused),
        }))
    }

    pub(crate) fn full(b: Bytes) -> Self {
        if b.is_empty() {
            Self::Empty
        } else {
            Self::Full(Some(b))
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Self::Stream {
            disconnect: Some(d),
            ended: false,
            ..
        } = self
        {
            d.fire();
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream { rx, ended, .. } => match ready!(rx.poll_recv(cx)) {
                Some(Ok(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => {
                    *ended = true;
                    Poll::Ready(None)
                }
            },
            Self::File(file) => Poll::Ready(ready!(file.poll_chunk(cx)).map(|chunk| chunk.map(Frame::data))),
            Self::Watched(w) => {
                let frame = ready!(Pin::new(&mut w.inner).poll_frame(cx));
                match &frame {
                    Some(Ok(f)) => w.sent += f.data_ref().map_or(0, |d| d.len() as u64),
                    _ => w.end(),
                }
                Poll::Ready(frame)
            }
            Self::Guarded(g) => {
                if let Some(refused) = g.refused.as_mut() {
                    match Pin::new(refused).poll(cx) {
                        Poll::Ready(Ok(failure)) => {
                            g.refused = None;
                            return Poll::Ready(Some(Err(io::Error::other(failure.describe()))));
                        }
                        Poll::Ready(Err(_)) => g.refused = None,
                        Poll::Pending => {}
                    }
                }
                Pin::new(&mut g.inner).poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(b) => b.is_none(),
            Self::Stream { .. } => false,
            Self::File(file) => file.remaining() == 0,
            Self::Watched(w) => w.inner.is_end_stream(),
            Self::Guarded(g) => g.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream { .. } => SizeHint::default(),
            Self::File(file) => SizeHint::with_exact(file.remaining()),
            Self::Watched(w) => w.inner.size_hint(),
            Self::Guarded(g) => g.inner.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;

    use super::*;

    fn counted(body: ResponseBody) -> (ResponseBody, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let body = body.on_end(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        (body, calls)
    }

    /// `body` watched: the byte count its end reports (`None` before the end).
    fn sized(body: ResponseBody) -> (ResponseBody, Arc<std::sync::Mutex<Option<u64>>>) {
        let sent = Arc::new(std::sync::Mutex::new(None));
        let seen = Arc::clone(&sent);
        let body = body.on_end(move |n| *seen.lock().unwrap() = Some(n));
        (body, sent)
    }

    #[tokio::test]
    async fn the_end_reports_the_body_bytes_sent() {
        let (mut body, sent) = sized(ResponseBody::full(Bytes::from_static(b"hello")));
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.is_none());
        assert_eq!(*sent.lock().unwrap(), Some(5));

        let (body, sent) = sized(ResponseBody::Empty);
        drop(body);
        assert_eq!(*sent.lock().unwrap(), Some(0));

        // Never polled (hyper sends no body for HEAD): nothing was sent.
        let (body, sent) = sized(ResponseBody::full(Bytes::from_static(b"unsent")));
        drop(body);
        assert_eq!(*sent.lock().unwrap(), Some(0));
    }

    #[tokio::test]
    async fn a_streamed_body_counts_its_chunks_up_to_a_cut() {
        let (tx, body) = ResponseBody::stream(None);
        let (mut body, sent) = sized(body);
        tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b""))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"defg"))).await.unwrap();
        tx.send(Err(io::Error::other("cut"))).await.unwrap();
        for _ in 0..3 {
            assert!(body.frame().await.unwrap().is_ok());
        }
        assert_eq!(*sent.lock().unwrap(), None, "not before the end");
        assert!(body.frame().await.unwrap().is_err());
        assert_eq!(*sent.lock().unwrap(), Some(7));

        // A client that leaves mid-way: what was taken before the drop.
        let (tx, body) = ResponseBody::stream(None);
        let (mut body, sent) = sized(body);
        tx.send(Ok(Bytes::from_static(b"12345678"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"never taken"))).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        drop(body);
        assert_eq!(*sent.lock().unwrap(), Some(8));
    }

    const LIMIT: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn a_wait_for_room_gives_up_after_the_limit_without_progress() {
        let (tx, _rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(send_within(&tx, 1, Some(LIMIT)).await, Err(Unsent::TimedOut));
        assert_eq!(started.elapsed(), LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn each_item_taken_starts_the_wait_afresh() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        // The consumer takes one item a little faster than the limit: slow, never stalled.
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                tokio::time::sleep(LIMIT * 9 / 10).await;
                match rx.recv().await {
                    Some(n) => got.push(n),
                    None => return got,
                }
            }
        });
        let started = tokio::time::Instant::now();
        for n in 1..=5 {
            assert_eq!(send_within(&tx, n, Some(LIMIT)).await, Ok(()), "item {n}");
        }
        assert!(started.elapsed() > LIMIT * 4, "five waits, each under the limit");
        drop(tx);
        assert_eq!(consumer.await.unwrap(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_limit_the_wait_lasts_as_long_as_it_takes() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        let consumer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            (rx.recv().await, rx.recv().await)
        });
        assert_eq!(send_within(&tx, 1, None).await, Ok(()));
        assert_eq!(consumer.await.unwrap(), (Some(0), Some(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_consumer_that_leaves_ends_the_wait() {
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(LIMIT / 2).await;
            drop(rx);
        });
        assert_eq!(send_within(&tx, 1, Some(LIMIT)).await, Err(Unsent::Closed));
    }

    fn quiet_bridge() -> Arc<Bridge> {
        Arc::new(Bridge::new(Level::Error as u8).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_nobody_takes_is_cut_once_the_limit_passes() {
        let disconnect = Disconnect::new();
        let (tx, mut body) = ResponseBody::stream(Some(Arc::clone(&disconnect)));
        for _ in 0..STREAM_QUEUE {
            tx.try_send(Ok(Bytes::from_static(b"queued"))).unwrap();
        }
        let chunk = Ok(Bytes::from_static(b"late"));
        let sent = wait_for_room(tx.clone(), chunk, Some(LIMIT), Arc::clone(&disconnect), quiet_bridge()).await;
        assert!(!sent);
        assert!(
            disconnect.is_cut() && disconnect.is_fired(),
            "the app is told its client left"
        );
        // A consumer that comes back (HTTP/1) gets what was queued, then an error, never an end
        // that would pass for a complete response.
        drop(tx);
        for _ in 0..STREAM_QUEUE {
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "queued");
        }
        let end = body.frame().await.unwrap();
        assert!(end.unwrap_err().to_string().contains("--write-timeout"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_that_gets_room_in_time_is_not_cut() {
        let disconnect = Disconnect::new();
        let (tx, mut body) = ResponseBody::stream(Some(Arc::clone(&disconnect)));
        for _ in 0..STREAM_QUEUE {
            tx.try_send(Ok(Bytes::from_static(b"queued"))).unwrap();
        }
        let waiting = tokio::spawn(wait_for_room(
            tx.clone(),
            Ok(Bytes::from_static(b"next")),
            Some(LIMIT),
            Arc::clone(&disconnect),
            quiet_bridge(),
        ));
        tokio::time::sleep(LIMIT * 9 / 10).await;
        body.frame().await.unwrap().unwrap();
        assert!(waiting.await.unwrap());
        assert!(!disconnect.is_fired());
    }

    #[tokio::test]
    async fn on_end_runs_once_when_a_streamed_body_is_over() {
        let (tx, body) = ResponseBody::stream(None);
        let (mut body, calls) = counted(body);
        assert_eq!(body.size_hint().exact(), None);
        tx.send(Ok(Bytes::from_static(b"a"))).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "a");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "not before the end");
        drop(tx);
        assert!(body.frame().await.is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(body);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "not again on drop");
    }

    #[tokio::test]
    async fn on_end_runs_when_a_body_fails_or_is_dropped_unsent() {
        let (tx, body) = ResponseBody::stream(None);
        let (mut body, calls) = counted(body);
        tx.send(Err(io::Error::other("cut"))).await.unwrap();
        assert!(body.frame().await.unwrap().is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let (body, calls) = counted(ResponseBody::full(Bytes::from_static(b"hello")));
        assert_eq!(
            body.size_hint().exact(),
            Some(5),
            "the size still reaches content-length"
        );
        assert!(!body.is_end_stream());
        drop(body);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn on_end_is_told_the_body_bytes_handed_over() {
        let sent = Arc::new(AtomicUsize::new(usize::MAX));
        let (tx, body) = ResponseBody::stream(None);
        let seen = Arc::clone(&sent);
        let mut body = body.on_end(move |n| seen.store(n as usize, Ordering::SeqCst));
        tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"de"))).await.unwrap();
        drop(tx);
        while body.frame().await.is_some() {}
        assert_eq!(sent.load(Ordering::SeqCst), 5);

        let seen = Arc::clone(&sent);
        let body =
            ResponseBody::full(Bytes::from_static(b"unsent")).on_end(move |n| seen.store(n as usize, Ordering::SeqCst));
        drop(body);
        assert_eq!(sent.load(Ordering::SeqCst), 0, "dropped before anything was taken");
    }
}
