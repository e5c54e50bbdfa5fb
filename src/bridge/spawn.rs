//! The two ways Python waits for tokio, written once: run a future on the runtime and resolve
//! an [`Awaitable`] with its outcome on the loop thread ([`spawn_awaitable`]), and put an item
//! into a bounded queue, waiting for room only when it is full ([`send_or_wait`]).

use std::future::Future;
use std::sync::Arc;

use pyo3::prelude::*;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

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

/// Queues `item` on `tx`: at once when there is room (the awaitable is already done), else on
/// the runtime once there is. `closed()` is the error when the receiving side is gone.
pub(crate) fn send_or_wait<'py, T: Send + 'static>(
    py: Python<'py>,
    tx: &mpsc::Sender<T>,
    item: T,
    rt: &tokio::runtime::Handle,
    bridge: &Arc<Bridge>,
    closed: fn() -> PyErr,
) -> PyResult<Bound<'py, Awaitable>> {
    match tx.try_send(item) {
        Ok(()) => Awaitable::done_none(py),
        Err(TrySendError::Closed(_)) => Err(closed()),
        Err(TrySendError::Full(item)) => {
            let tx = tx.clone();
            spawn_awaitable(
                py,
                rt,
                bridge,
                async move { tx.send(item).await.is_ok() },
                move |py, sent| if sent { Ok(py.None()) } else { Err(closed()) },
            )
        }
    }
}
