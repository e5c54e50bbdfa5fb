//! Request bodies as the interfaces see them, and the response body type hyper drains.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream as _;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio_util::io::ReaderStream;

use super::disconnect::Disconnect;

/// Bodies up to this size (by Content-Length) are read before the app is called, so the app's
/// first read completes without a round trip to the network thread.
pub(crate) const PREFETCH_LIMIT: u64 = 64 * 1024;

/// The request body handed to an interface.
pub(crate) enum RequestBody {
    /// Entirely received already (possibly empty).
    Full(Bytes),
    /// Still arriving; read on the runtime thread.
    Stream(Incoming),
}

impl RequestBody {
    /// Reads small bodies whole; leaves large, chunked or `Expect: 100-continue` ones streaming
    /// (the app decides whether to read those). `Err` when the client broke off the upload.
    pub(crate) async fn prefetch(body: Incoming, headers: &http::HeaderMap) -> Result<Self, hyper::Error> {
        if body.is_end_stream() {
            return Ok(Self::Full(Bytes::new()));
        }
        let small = body.size_hint().exact().is_some_and(|n| n <= PREFETCH_LIMIT);
        let expects = headers.contains_key(http::header::EXPECT);
        if !small || expects {
            return Ok(Self::Stream(body));
        }
        Ok(Self::Full(body.collect().await?.to_bytes()))
    }
}

/// Reads the next data chunk of a streaming body; `None` at the end.
pub(crate) async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, hyper::Error> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if !data.is_empty() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// Reads a streaming body to its end.
pub(crate) async fn read_all(body: &mut Incoming) -> Result<Bytes, hyper::Error> {
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = next_chunk(body).await? {
        match first.take() {
            None if buf.is_empty() => first = Some(chunk),
            Some(f) => {
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&chunk);
            }
            None => buf.extend_from_slice(&chunk),
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(buf)))
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
    File {
        stream: ReaderStream<tokio::io::Take<tokio::fs::File>>,
        remaining: u64,
    },
}

impl ResponseBody {
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
            Self::File { stream, remaining } => match ready!(Pin::new(stream).poll_next(cx)) {
                Some(Ok(b)) => {
                    *remaining = remaining.saturating_sub(b.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(b) => b.is_none(),
            Self::Stream { .. } => false,
            Self::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream { .. } => SizeHint::default(),
            Self::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
