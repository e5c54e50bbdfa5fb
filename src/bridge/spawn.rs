//! The ways Python waits for tokio, written once: run a future on the runtime and resolve an
//! [`Awaitable`] with its outcome on the loop thread ([`spawn_awaitable`]), or block a thread
//! that is not the runtime's on it ([`block_on_runtime`], WSGI pool threads); and put an item
//! into a bounded queue, waiting for room only when it is full ([`send_or_wait`]).

use std::future::Future;
use std::sync::Arc;

use pyo3::prelude::*;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::{Awaitable, Bridge};

/// Runs `work` on `rt`; the returned awaitable resolves, on the loop thread, with
/// `finish(py, output)`. Cancelling the awaitable aborts `work`.
pub(crate) fn spawn_awaitable<'py, T, W, F>(
    py: Python<'py>,
    rt: &tokio::runtime::Handle,
    bridge: &Arc<Bridge>,
    work: W,
    finish: F,
) -> PyResult<Bound<'py, Awaitable>>
where
    W: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    F: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let aw = Awaitable::pending(py)?;
    let target = aw.clone().unbind();
    let bridge = Arc::clone(bridge);
    let task = rt.spawn(async move {
        let output = work.await;
        bridge.push(Box::new(move |py, _| {
            Awaitable::resolve(target.bind(py), finish(py, output));
        }));
    });
    aw.get().set_abort(task.abort_handle());
    Ok(aw)
}

/// Runs `work` on `rt` and blocks the calling thread until it is done. Only for threads that
/// are not the runtime's (WSGI pool threads, with the GIL released). `None` when the runtime
/// dropped `work` unfinished (it is shutting down).
pub(crate) fn block_on_runtime<T, W>(rt: &tokio::runtime::Handle, work: W) -> Option<T>
where
    W: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (done, outcome) = oneshot::channel();
    rt.spawn(async move {
        let _ = done.send(work.await);
    });
    outcome.blocking_recv().ok()
}

/// Queues `item` on `tx`: at once when there is room (the awaitable is already done), else on
/// the runtime with `wait(tx, item)`, which tells whether the item got in ([`until_room`] waits
/// as long as it takes; a streamed response body's wait is bounded, see
/// `http::body::wait_for_room`). `closed()` is the error when it did not.
pub(crate) fn send_or_wait<'py, T, W, F>(
    py: Python<'py>,
    tx: &mpsc::Sender<T>,
    item: T,
    wait: W,
    rt: &tokio::runtime::Handle,
    bridge: &Arc<Bridge>,
    closed: fn() -> PyErr,
) -> PyResult<Bound<'py, Awaitable>>
where
    T: Send + 'static,
    W: FnOnce(mpsc::Sender<T>, T) -> F,
    F: Future<Output = bool> + Send + 'static,
{
    match tx.try_send(item) {
        Ok(()) => Awaitable::done_none(py),
        Err(TrySendError::Closed(_)) => Err(closed()),
        Err(TrySendError::Full(item)) => spawn_awaitable(py, rt, bridge, wait(tx.clone(), item), move |py, sent| {
            if sent {
                Ok(py.None())
            } else {
                Err(closed())
            }
        }),
    }
}

/// The wait of [`send_or_wait`] for a queue whose consumer bounds its own progress (a
/// WebSocket session's commands): as long as it takes for room.
pub(crate) async fn until_room<T>(tx: mpsc::Sender<T>, item: T) -> bool {
    tx.send(item).await.is_ok()
}
