//! hyper's executor for HTTP/2: the task of each stream, which the engine can end.
//!
//! hyper serves each HTTP/2 stream on a task of its own (the service future, then the pipe of
//! the response body into h2). It polls the response body only once the stream has
//! flow-control window for the next chunk, so a client that reads its socket but never opens a
//! stream's window holds that body, its queue and the app producing it forever; nothing hyper
//! polls can notice the engine giving up on it. [`StreamExec`] therefore runs every stream task
//! as an [`UntilCut`]: the handler, which runs inside that task, names the request's
//! [`Disconnect`] ([`watch`], through a thread-local slot that is open only while a stream task
//! is polled) when its response is streamed. Once that request is cut
//! ([`Disconnect::cut`]: its producer found no room for the write timeout), the task drops the
//! stream where it stands. h2 resets it (`RST_STREAM(CANCEL)`) and serves the connection's
//! other streams on; the dropped body ends the response as for a client that left (its access
//! line, its admission permit, the app's disconnect).
//!
//! A stream task whose request is never named costs two flag stores and a look at the slot
//! per poll.
//! HTTP/1 has no such tasks: the handler runs in the connection's task, where [`watch`] does
//! nothing, and the connection's own write timeout ends what is stuck there.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::disconnect::Disconnect;

thread_local! {
    /// Whether a stream task is being polled on this thread right now.
    static IN_STREAM: Cell<bool> = const { Cell::new(false) };
    /// The request named by [`watch`] during that poll, taken by the task right after it.
    static NAMED: Cell<Option<Arc<Disconnect>>> = const { Cell::new(None) };
}

/// hyper's HTTP/2 executor: spawns each task hyper gives it (streams, and the send side of
/// extended CONNECT tunnels) on the current runtime, as an [`UntilCut`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamExec;

impl<F> hyper::rt::Executor<F> for StreamExec
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        // Boxed at once: moving the stream's future by value into the task's cell costs more
        // than the allocation (measured, callgrind).
        tokio::spawn(UntilCut {
            fut: Box::pin(fut),
            watched: None,
        });
    }
}

/// Ends the current stream task (dropping what it serves) once `disconnect` is cut. Called by
/// the handler, inside the task; does nothing outside a [`StreamExec`] task (HTTP/1).
pub(crate) fn watch(disconnect: Arc<Disconnect>) {
    if IN_STREAM.with(Cell::get) {
        NAMED.with(|named| named.set(Some(disconnect)));
    }
}

/// A stream task: runs `fut` to its end, or until the request named during one of its polls
/// ([`watch`]) is cut. Once a request is named, the task's waker is registered with its
/// disconnect, so that the cut (which fires it) wakes the task. The cost per poll: two
/// thread-local flag stores and a take.
struct UntilCut<F> {
    fut: Pin<Box<F>>,
    watched: Option<Arc<Disconnect>>,
}

/// Marks a stream task's poll on this thread; unmarks it, dropping anything named and not
/// taken, when dropped (also when the poll panics).
struct Polling;

impl Polling {
    fn begin() -> Self {
        IN_STREAM.with(|flag| flag.set(true));
        Polling
    }

    /// Ends the poll; the request named during it, if any.
    fn end(self) -> Option<Arc<Disconnect>> {
        let named = NAMED.with(Cell::take);
        drop(self);
        named
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        IN_STREAM.with(|flag| flag.set(false));
        NAMED.with(Cell::take);
    }
}

impl<F: Future> Future for UntilCut<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every field is `Unpin` (the stream's future is boxed).
        let this = self.get_mut();
        let polling = Polling::begin();
        let ready = this.fut.as_mut().poll(cx).is_ready();
        let named = polling.end();
        if ready {
            return Poll::Ready(());
        }
        if this.watched.is_none() {
            if let Some(d) = named {
                let waker = cx.waker().clone();
                d.on_fire(Box::new(move || waker.wake()));
                this.watched = Some(d);
            }
        }
        match &this.watched {
            Some(d) if d.is_cut() => Poll::Ready(()),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use hyper::rt::Executor;

    use super::*;

    /// Sets its flag when dropped.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A task that names `disconnect` (if any) and then waits forever, holding a [`DropFlag`].
    fn stuck_task(disconnect: Option<Arc<Disconnect>>) -> (Arc<AtomicBool>, impl Future<Output = ()> + Send) {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(Arc::clone(&dropped));
        let fut = async move {
            let _flag = flag;
            if let Some(d) = disconnect {
                watch(d);
            }
            std::future::pending::<()>().await;
        };
        (dropped, fut)
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_cut_request_ends_its_stream_task() {
        let d = Disconnect::new();
        let (dropped, fut) = stuck_task(Some(Arc::clone(&d)));
        StreamExec.execute(fut);
        settle().await;
        assert!(!dropped.load(Ordering::SeqCst), "still running before the cut");
        d.fire();
        settle().await;
        assert!(
            !dropped.load(Ordering::SeqCst),
            "a plain disconnect leaves the task to hyper"
        );
        let d = Disconnect::new();
        let (dropped, fut) = stuck_task(Some(Arc::clone(&d)));
        StreamExec.execute(fut);
        settle().await;
        d.cut();
        settle().await;
        assert!(dropped.load(Ordering::SeqCst), "the cut dropped the stream");
    }

    #[tokio::test]
    async fn a_request_cut_before_the_task_waits_ends_it_too() {
        let d = Disconnect::new();
        d.cut();
        let (dropped, fut) = stuck_task(Some(d));
        StreamExec.execute(fut);
        settle().await;
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn tasks_end_on_their_own_and_watch_is_harmless_elsewhere() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        StreamExec.execute(async move {
            let _ = done_tx.send(());
        });
        done_rx.await.unwrap();
        // Outside a stream task (an HTTP/1 connection's), naming a request does nothing.
        watch(Disconnect::new());
        let (dropped, fut) = stuck_task(None);
        StreamExec.execute(fut);
        settle().await;
        assert!(!dropped.load(Ordering::SeqCst));
    }
}
