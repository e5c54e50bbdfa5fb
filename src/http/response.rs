//! What an interface hands back to the HTTP engine, and the engine's own responses.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH};
use http::{Response, StatusCode};
use tokio::sync::oneshot;

use super::body::ResponseBody;
use super::file_body::FileBody;
use crate::bridge::{lock, Outbox};

/// A response as decided on the Python side, finished on the runtime thread.
pub(crate) enum ResponsePlan {
    Ready(Response<ResponseBody>),
    /// A file to stream; opened by the runtime (never on the loop thread).
    File {
        status: StatusCode,
        headers: HeaderMap,
        path: PathBuf,
        /// `[start, end)` byte range, or the whole file.
        range: Option<(u64, u64)>,
    },
    /// The app agreed to switch protocols (only on a request that asked to, see
    /// [`super::upgrade`]); the payload is for the upgrade hook (e.g. a `ws::Accept`).
    Switch(Box<dyn std::any::Any + Send>),
}

/// The single-use channel through which the app's response reaches hyper. The send itself is
/// made on the runtime thread through its [`Outbox`], so a batch of responses costs one wake-up.
pub(crate) struct Responder {
    tx: oneshot::Sender<ResponsePlan>,
    outbox: Arc<Outbox>,
}

impl Responder {
    pub(crate) fn new(outbox: Arc<Outbox>) -> (Self, oneshot::Receiver<ResponsePlan>) {
        let (tx, rx) = oneshot::channel();
        (Self { tx, outbox }, rx)
    }

    /// Hands `plan` to hyper. `false` when the request is already gone (hyper dropped it); a
    /// request that goes away while the plan is on its way simply drops it.
    pub(crate) fn send(self, plan: ResponsePlan) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        let tx = self.tx;
        self.outbox.deliver(Box::new(move || {
            let _ = tx.send(plan);
        }));
        true
    }
}

/// The one answer a request gets, shared by the objects an app may answer through: the first
/// response wins, later ones are dropped. Closing it without an answer (or dropping it) makes
/// the engine answer 500.
pub(crate) struct ResponseSlot(Mutex<Option<Responder>>);

impl ResponseSlot {
    pub(crate) fn new(responder: Responder) -> Self {
        Self(Mutex::new(Some(responder)))
    }

    /// Hands `plan` to hyper unless a response was given already. `false` when it was, or
    /// when the request is gone.
    pub(crate) fn respond(&self, plan: ResponsePlan) -> bool {
        match self.take() {
            Some(tx) => tx.send(plan),
            None => false,
        }
    }

    /// Whether no response was given yet.
    pub(crate) fn is_open(&self) -> bool {
        lock(&self.0).is_some()
    }

    /// The responder, when no response was given yet; the slot is closed afterwards.
    pub(crate) fn take(&self) -> Option<Responder> {
        lock(&self.0).take()
    }

    /// Closes the slot without answering: the engine answers 500 if nothing was sent.
    pub(crate) fn close(&self) {
        drop(self.take());
    }
}

/// Builds a response.
pub(crate) fn build(status: StatusCode, headers: HeaderMap, body: ResponseBody) -> Response<ResponseBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// An engine-generated response with a short plain body (or none).
pub(crate) fn status_only(status: StatusCode, body: &'static [u8]) -> Response<ResponseBody> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    build(status, headers, ResponseBody::full(Bytes::from_static(body)))
}

/// The answer to a HEAD request on HTTP/2: the head the GET would have (its `content-length`
/// included, when the body's size is known), and no body. (hyper's HTTP/1 does this itself;
/// its HTTP/2 would send the body as DATA frames.) A streamed body is dropped unread, which
/// tells the app its client is not listening, as HTTP/1 does.
pub(crate) fn without_body(resp: Response<ResponseBody>) -> Response<ResponseBody> {
    let (mut parts, body) = resp.into_parts();
    if !parts.headers.contains_key(CONTENT_LENGTH) {
        if let Some(n) = http_body::Body::size_hint(&body).exact() {
            parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    Response::from_parts(parts, ResponseBody::Empty)
}

pub(crate) fn internal_error() -> Response<ResponseBody> {
    status_only(StatusCode::INTERNAL_SERVER_ERROR, b"")
}

impl ResponsePlan {
    pub(crate) async fn into_response(self) -> Response<ResponseBody> {
        match self {
            Self::Ready(r) => r,
            Self::File {
                status,
                headers,
                path,
                range,
            } => open_file(status, headers, path, range).await,
            // The request did not ask to switch: nothing to accept.
            Self::Switch(_) => internal_error(),
        }
    }
}

/// The response sending `path` (or its `[start, end)` range, clamped to the file), opened and
/// measured in one trip to the blocking pool; 404 when it is not a readable regular file.
async fn open_file(
    status: StatusCode,
    mut headers: HeaderMap,
    path: PathBuf,
    range: Option<(u64, u64)>,
) -> Response<ResponseBody> {
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        let meta = file.metadata()?;
        Ok::<_, std::io::Error>((file, meta))
    })
    .await;
    let Ok(Ok((file, meta))) = opened else {
        return status_only(StatusCode::NOT_FOUND, b"Not found");
    };
    if !meta.is_file() {
        return status_only(StatusCode::NOT_FOUND, b"Not found");
    }
    let size = meta.len();
    let (start, end) = match range {
        Some((s, e)) => (s.min(size), e.min(size)),
        None => (0, size),
    };
    let len = end.saturating_sub(start);
    headers.remove(CONTENT_LENGTH);
    build(status, headers, ResponseBody::File(FileBody::new(file, start, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(status: u16) -> ResponsePlan {
        ResponsePlan::Ready(status_only(StatusCode::from_u16(status).unwrap(), b""))
    }

    fn status(plan: ResponsePlan) -> u16 {
        match plan {
            ResponsePlan::Ready(r) => r.status().as_u16(),
            _ => panic!("not a ready response"),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    #[test]
    fn the_first_response_wins() {
        runtime().block_on(async {
            let (tx, rx) = Responder::new(Outbox::start());
            let slot = ResponseSlot::new(tx);
            assert!(slot.is_open());
            assert!(slot.respond(plan(201)));
            assert!(!slot.is_open());
            assert!(!slot.respond(plan(202)), "a second response is dropped");
            slot.close();
            assert_eq!(status(rx.await.unwrap()), 201);
        });
    }

    #[test]
    fn closing_without_an_answer_leaves_the_engine_to_answer() {
        runtime().block_on(async {
            let (tx, rx) = Responder::new(Outbox::start());
            let slot = ResponseSlot::new(tx);
            slot.close();
            assert!(!slot.respond(plan(200)));
            // The handler sees the responder dropped: it answers 500.
            assert!(rx.await.is_err());
        });
    }

    #[test]
    fn a_response_for_a_request_that_is_gone_reports_it() {
        runtime().block_on(async {
            let (tx, rx) = Responder::new(Outbox::start());
            drop(rx);
            assert!(!ResponseSlot::new(tx).respond(plan(200)));
        });
    }

    #[test]
    fn head_on_h2_keeps_the_length_and_drops_the_body() {
        let resp = build(
            StatusCode::OK,
            HeaderMap::new(),
            ResponseBody::full(Bytes::from_static(b"hello")),
        );
        let resp = without_body(resp);
        assert_eq!(resp.headers()[CONTENT_LENGTH], "5");
        assert!(matches!(resp.body(), ResponseBody::Empty));
    }
}
