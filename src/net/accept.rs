//! The accept loop: one per runtime, gated by the worker's backpressure semaphore.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use super::{ConnInfo, Listener, Stream};
use crate::bridge::{Bridge, Level};

/// Errors that concern one connection only (the peer gave up before we accepted it).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) || e.raw_os_error() == Some(libc::EPROTO)
}

/// Accepts connections until `shutdown` is true (at once if it already is), handing each to
/// `serve` with a semaphore permit held for the connection's lifetime: beyond `backpressure`
/// connections the loop stops accepting and new clients wait in the kernel backlog; none is
/// refused.
pub(crate) async fn accept_loop<F>(
    listener: Listener,
    scheme: &'static str,
    permits: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
    bridge: Arc<Bridge>,
    mut serve: F,
) where
    F: FnMut(Stream, Arc<ConnInfo>, tokio::sync::OwnedSemaphorePermit),
{
    let server = listener.local_name();
    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            r = listener.accept(&server, scheme) => r,
        };
        match accepted {
            Ok((stream, info)) => serve(stream, info, permit),
            Err(e) if is_connection_error(&e) => {
                bridge.log(Level::Debug, || format!("accept: connection dropped by peer: {e}"));
            }
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning.
                bridge.log(Level::Error, || format!("accept failed: {e}; retrying in 100ms"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
