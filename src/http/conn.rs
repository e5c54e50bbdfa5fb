//! Serving one connection with hyper, and draining it on graceful shutdown.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};

use super::handler::{handle, Interface, Shared};
use crate::bridge::Level;
use crate::config::Http1Config;
use crate::net::{ConnInfo, Stream};

/// The hyper HTTP/1 settings, built once per worker.
pub(crate) fn http1_builder(cfg: &Http1Config) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .keep_alive(cfg.keep_alive)
        .max_buf_size(cfg.max_buffer_size)
        .header_read_timeout(cfg.header_read_timeout)
        .pipeline_flush(cfg.pipeline_flush)
        .max_headers(cfg.max_headers)
        .half_close(false);
    b
}

/// What a connection task needs besides its socket.
pub(crate) struct ConnCtx<I> {
    pub(crate) shared: Arc<Shared<I>>,
    pub(crate) http1: Arc<http1::Builder>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Dropped when the connection ends; the worker waits for all of them on shutdown.
    pub(crate) alive: mpsc::Sender<()>,
}

pub(crate) fn spawn_connection<I: Interface>(
    stream: Stream,
    info: Arc<ConnInfo>,
    permit: OwnedSemaphorePermit,
    ctx: ConnCtx<I>,
) {
    tokio::spawn(async move {
        let ConnCtx {
            shared,
            http1,
            mut shutdown,
            alive,
        } = ctx;
        let bridge = Arc::clone(&shared.bridge);
        let svc = service_fn(move |req| handle(req, Arc::clone(&info), Arc::clone(&shared)));
        let conn = http1.serve_connection(TokioIo::new(stream), svc);
        tokio::pin!(conn);
        let res = if *shutdown.borrow() {
            conn.as_mut().graceful_shutdown();
            conn.await
        } else {
            tokio::select! {
                res = conn.as_mut() => res,
                _ = shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            }
        };
        if let Err(e) = res {
            bridge.log(Level::Debug, || format!("connection closed with error: {e}"));
        }
        drop(permit);
        drop(alive);
    });
}
