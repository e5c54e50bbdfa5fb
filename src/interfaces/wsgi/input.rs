//! `wsgi.input`: the request body as a blocking, file-like stream.
//!
//! A body the engine read ahead (small, with a Content-Length) is served from memory. A larger
//! one is pulled from the connection only when the application reads: the first read starts a
//! task on the connection's runtime that forwards chunks through a small bounded channel, and
//! each read waits for the next chunk with the GIL released. At most `READ_AHEAD` chunks wait in
//! the channel, so an upload read piece by piece is never held in memory whole.

use std::sync::Mutex;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::mpsc;

use crate::bridge::lock;
use crate::error::{client_gone, misuse, Iface};
use crate::http::body::{BodyStream, Forwarded, RequestBody};

/// Chunks the reader task may forward ahead of the application.
const READ_AHEAD: usize = 4;

enum Source {
    /// Nothing more to read.
    Eof,
    /// Body not touched yet: nothing is read (and no `100 Continue` sent) until the app asks.
    Idle(BodyStream, tokio::runtime::Handle),
    Reading(mpsc::Receiver<Forwarded>),
    /// Another thread is waiting for a chunk.
    Busy,
    Failed(String),
}

struct State {
    /// Received, not yet handed to the application.
    buf: Bytes,
    src: Source,
}

#[pyclass(frozen, freelist = 64, module = "granian._granian", name = "WSGIInput")]
pub(crate) struct WsgiInput {
    st: Mutex<State>,
}

fn disconnected(why: &str) -> PyErr {
    client_gone(
        Iface::Wsgi,
        format!("the client went away while sending the request body ({why})"),
    )
}

/// Joins received pieces into one `bytes` object (one copy).
fn to_pybytes<'py>(py: Python<'py>, parts: &[Bytes]) -> PyResult<Bound<'py, PyBytes>> {
    match parts {
        [] => Ok(PyBytes::new(py, b"")),
        [one] => Ok(PyBytes::new(py, one)),
        _ => {
            let total = parts.iter().map(Bytes::len).sum();
            PyBytes::new_with(py, total, |dst| {
                let mut at = 0;
                for p in parts {
                    dst[at..at + p.len()].copy_from_slice(p);
                    at += p.len();
                }
                Ok(())
            })
        }
    }
}

impl WsgiInput {
    pub(super) fn new(body: RequestBody, rt: tokio::runtime::Handle) -> Self {
        let st = match body {
            RequestBody::Full(buf) => State { buf, src: Source::Eof },
            RequestBody::Stream(inc) => State {
                buf: Bytes::new(),
                src: Source::Idle(inc, rt),
            },
        };
        Self { st: Mutex::new(st) }
    }

    /// Drops what is left of the body once the request is over, so the connection can move on
    /// even if the application kept a reference to the stream.
    pub(super) fn release(&self) {
        let mut st = lock(&self.st);
        st.buf = Bytes::new();
        st.src = Source::Eof;
    }

    /// Waits (GIL released) for the next chunk into `buf`; false at the end of the body.
    fn fill(&self, py: Python<'_>) -> PyResult<bool> {
        let mut rx = {
            let mut st = lock(&self.st);
            match std::mem::replace(&mut st.src, Source::Busy) {
                Source::Reading(rx) => rx,
                Source::Idle(inc, rt) => inc.forward(&rt, READ_AHEAD),
                Source::Eof => {
                    st.src = Source::Eof;
                    return Ok(false);
                }
                Source::Busy => {
                    return Err(misuse(Iface::Wsgi, "wsgi.input is being read by another thread"));
                }
                Source::Failed(why) => {
                    let err = disconnected(&why);
                    st.src = Source::Failed(why);
                    return Err(err);
                }
            }
        };
        let got = py.detach(|| rx.blocking_recv());
        let mut st = lock(&self.st);
        match got {
            Some(Ok(chunk)) => {
                st.buf = chunk;
                st.src = Source::Reading(rx);
                Ok(true)
            }
            None => {
                st.src = Source::Eof;
                Ok(false)
            }
            Some(Err(why)) => {
                let err = disconnected(&why);
                st.src = Source::Failed(why);
                Err(err)
            }
        }
    }

    /// Up to `limit` bytes (all that is left when `None`), waiting for the body as needed.
    fn read_parts(&self, py: Python<'_>, limit: Option<usize>) -> PyResult<Vec<Bytes>> {
        let mut parts = Vec::new();
        let mut have = 0;
        loop {
            {
                let mut st = lock(&self.st);
                if !st.buf.is_empty() {
                    let piece = match limit {
                        Some(l) if l - have < st.buf.len() => st.buf.split_to(l - have),
                        _ => std::mem::take(&mut st.buf),
                    };
                    have += piece.len();
                    parts.push(piece);
                }
            }
            if limit == Some(have) || !self.fill(py)? {
                return Ok(parts);
            }
        }
    }

    /// One line (up to and including `\n`), at most `limit` bytes.
    fn line_parts(&self, py: Python<'_>, limit: Option<usize>) -> PyResult<Vec<Bytes>> {
        let mut parts = Vec::new();
        let mut have = 0;
        loop {
            {
                let mut st = lock(&self.st);
                if !st.buf.is_empty() {
                    let room = limit.map_or(usize::MAX, |l| l - have);
                    let window = st.buf.len().min(room);
                    let end = st.buf[..window].iter().position(|&b| b == b'\n').map(|i| i + 1);
                    let piece = st.buf.split_to(end.unwrap_or(window));
                    have += piece.len();
                    parts.push(piece);
                    if end.is_some() {
                        return Ok(parts);
                    }
                }
            }
            if limit == Some(have) || !self.fill(py)? {
                return Ok(parts);
            }
        }
    }
}

fn limit_of(size: Option<isize>) -> Option<usize> {
    size.and_then(|n| usize::try_from(n).ok())
}

#[pymethods]
impl WsgiInput {
    /// `read()` / `read(-1)`: the rest of the body; `read(n)`: `n` bytes, fewer only at its end.
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let limit = limit_of(size);
        if limit == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        to_pybytes(py, &self.read_parts(py, limit)?)
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let limit = limit_of(size);
        if limit == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        to_pybytes(py, &self.line_parts(py, limit)?)
    }

    /// Lines until the end of the body, or until `hint` bytes were read (when positive).
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let hint = limit_of(hint).filter(|&h| h > 0);
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let parts = self.line_parts(py, None)?;
            if parts.is_empty() {
                return Ok(lines);
            }
            total += parts.iter().map(Bytes::len).sum::<usize>();
            lines.push(to_pybytes(py, &parts)?);
            if hint.is_some_and(|h| total >= h) {
                return Ok(lines);
            }
        }
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let parts = self.line_parts(py, None)?;
        if parts.is_empty() {
            return Ok(None);
        }
        to_pybytes(py, &parts).map(Some)
    }

    fn readable(&self) -> bool {
        true
    }

    fn __repr__(&self) -> &'static str {
        "<WSGIInput>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(data: &'static [u8]) -> WsgiInput {
        WsgiInput {
            st: Mutex::new(State {
                buf: Bytes::from_static(data),
                src: Source::Eof,
            }),
        }
    }

    #[test]
    fn reads_sizes_lines_and_iteration_from_memory() {
        Python::attach(|py| {
            let i = input(b"first\nsecond\nthird");
            assert_eq!(i.read(py, Some(3)).unwrap().as_bytes(), b"fir");
            assert_eq!(i.readline(py, None).unwrap().as_bytes(), b"st\n");
            assert_eq!(i.readline(py, Some(3)).unwrap().as_bytes(), b"sec");
            let rest: Vec<Vec<u8>> = i
                .readlines(py, None)
                .unwrap()
                .iter()
                .map(|b| b.as_bytes().to_vec())
                .collect();
            assert_eq!(rest, [b"ond\n".to_vec(), b"third".to_vec()]);
            assert_eq!(i.read(py, None).unwrap().as_bytes(), b"");
            assert!(i.__next__(py).unwrap().is_none());

            let i = input(b"abc");
            assert_eq!(i.read(py, Some(-1)).unwrap().as_bytes(), b"abc");
            let i = input(b"abc");
            assert_eq!(i.read(py, Some(10)).unwrap().as_bytes(), b"abc");
        });
    }

    #[test]
    fn joins_pieces_in_order() {
        Python::attach(|py| {
            let parts = [
                Bytes::from_static(b"ab"),
                Bytes::from_static(b"c"),
                Bytes::from_static(b"de"),
            ];
            assert_eq!(to_pybytes(py, &parts).unwrap().as_bytes(), b"abcde");
            assert_eq!(to_pybytes(py, &[]).unwrap().as_bytes(), b"");
        });
    }
}
