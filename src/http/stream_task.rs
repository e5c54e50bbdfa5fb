//! hyper's executor for HTTP/2: the task of each stream, which the engine can end.
//!
//! hyper serves each HTTP/2 stream on a task of its own (the service future, then the pipe of
//! the response body into h2). It polls the response body only once the stream has
//! flow-control window for the next chunk, so a client that reads its socket but never opens a
//! stream's window holds that body, its queue and the app producing it forever; nothing hyper
//! polls can notice the engine giving up on it. [`StreamExec`] therefore runs every stream task
//! with a task-local slot: the handler, which runs inside that task, names the request's
//! [`Disconnect`] there ([`watch`]) when its response is streamed. Once that request is cut
//! ([`Disconnect::cut`]: its producer found no room for the write timeout), the task drops the
//! stream where it stands. h2 resets it (`RST_STREAM(CANCEL)`) and serves the connection's
//! other streams on; the dropped body ends the response as for a client that left (its access
//! line, its admission permit, the app's disconnect).
//!
//! A stream task whose request is never named costs a look at the slot whenever it waits.
//! HTTP/1 has no such tasks: the handler runs in the connection's task, where [`watch`] does
//! nothing, and the connection's own write timeout ends what is stuck there.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use super::disconnect::Disconnect;

tokio::task_local! {
    /// The request whose cut ends the current stream task, named by [`watch`].
    static WATCHED: RefCell<Option<Arc<Disconnect>>>;
}

/// hyper's HTTP/2 executor: spawns each task hyper gives it (streams, and the send side of
/// extended CONNECT tunnels) on the current runtime, under [`until_cut`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamExec;

impl<F> hyper::rt::Executor<F> for StreamExec
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(WATCHED.scope(RefCell::new(None), until_cut(fut)));
    }
}

/// Ends the current stream task (dropping what it serves) once `disconnect` is cut. Called by
/// the handler, inside the task; does nothing outside a [`StreamExec`] task (HTTP/1).
pub(crate) fn watch(disconnect: Arc<Disconnect>) {
    let _ = WATCHED.try_with(|slot| *slot.borrow_mut() = Some(disconnect));
}

/// Runs `fut` to its end, or until the request named in the task's slot is cut. The slot is
/// looked at after each poll that waits; once a request is found there, the task's waker is
/// registered with its disconnect, so that the cut (which fires it) wakes the task.
async fn until_cut<F: Future>(fut: F) {
    let mut fut = std::pin::pin!(fut);
    let mut watched: Option<Arc<Disconnect>> = None;
    std::future::poll_fn(|cx| {
        if fut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if watched.is_none() {
            watched = WATCHED.with(|slot| slot.borrow_mut().take());
            if let Some(d) = &watched {
                let waker = cx.waker().clone();
                d.on_fire(Box::new(move || waker.wake()));
            }
        }
        match &watched {
            Some(d) if d.is_cut() => Poll::Ready(()),
            _ => Poll::Pending,
        }
    })
    .await;
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
