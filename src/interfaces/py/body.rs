//! The request body as the event-loop interfaces read it (ASGI `receive`, RSGI
//! `await protocol()` and `async for`), one awaitable per read: what the read-ahead took is
//! handed over at once, the rest is pulled on the runtime. This is the awaitable face of
//! [`BodyStream`]; its blocking face, [`BodyStream::forward`], is what `wsgi.input` reads.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::prelude::*;

use crate::bridge::{lock, spawn_awaitable, Awaitable, Bridge};
use crate::http::body::{BodyStream, RequestBody};

/// What one read found.
pub(crate) enum Read {
    /// Body bytes (possibly empty for an empty body); `last`: nothing follows.
    Chunk { data: Bytes, last: bool },
    /// The body had ended already.
    End,
    /// The upload broke off (the client went away, or its framing was malformed).
    Broken(String),
}

enum State {
    /// Received whole by the read-ahead, not delivered yet.
    Full(Bytes),
    /// Still arriving.
    Stream(Arc<tokio::sync::Mutex<BodyStream>>),
    /// Delivered to its end (or broken).
    Done,
}

pub(crate) struct AsyncBody {
    state: Arc<Mutex<State>>,
    rt: tokio::runtime::Handle,
    bridge: Arc<Bridge>,
}

impl AsyncBody {
    pub(crate) fn new(body: RequestBody, rt: tokio::runtime::Handle, bridge: Arc<Bridge>) -> Self {
        let state = match body {
            RequestBody::Full(b) => State::Full(b),
            RequestBody::Stream(s) => State::Stream(Arc::new(tokio::sync::Mutex::new(s))),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            rt,
            bridge,
        }
    }

    /// Whether the body was delivered to its end.
    pub(crate) fn is_done(&self) -> bool {
        matches!(*lock(&self.state), State::Done)
    }

    /// The next chunk (`whole`: everything left, as one chunk), as an awaitable resolving on
    /// the loop thread with `deliver(py, read)`.
    pub(crate) fn read<'py, F>(&self, py: Python<'py>, whole: bool, deliver: F) -> PyResult<Bound<'py, Awaitable>>
    where
        F: FnOnce(Python<'_>, Read) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        let mut state = lock(&self.state);
        let stream = match std::mem::replace(&mut *state, State::Done) {
            State::Full(data) => {
                drop(state);
                return Awaitable::ready(py, deliver(py, Read::Chunk { data, last: true })?);
            }
            State::Done => {
                drop(state);
                return Awaitable::ready(py, deliver(py, Read::End)?);
            }
            State::Stream(s) => {
                *state = State::Stream(Arc::clone(&s));
                s
            }
        };
        drop(state);
        let work = async move {
            let mut body = stream.lock().await;
            let res = if whole {
                body.read_all().await.map(Some)
            } else {
                body.next_chunk().await
            };
            match res {
                Ok(Some(data)) => Read::Chunk {
                    last: whole || body.is_end_stream(),
                    data,
                },
                Ok(None) => Read::End,
                Err(e) => Read::Broken(e.to_string()),
            }
        };
        let state = Arc::clone(&self.state);
        spawn_awaitable(py, &self.rt, &self.bridge, work, move |py, read| {
            if matches!(read, Read::Chunk { last: true, .. } | Read::End | Read::Broken(_)) {
                *lock(&state) = State::Done;
            }
            deliver(py, read)
        })
    }
}
