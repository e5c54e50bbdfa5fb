//! Serving one connection with hyper, and draining it on graceful shutdown.
//!
//! Draining never drops a request the client has already sent. Once the worker stops, every
//! response carries `connection: close`, so a connection closes right after the request it is
//! serving (or the next one it receives). Only a connection that stays idle for `IDLE_GRACE`
//! is closed without a request, which is exactly what a keep-alive timeout does at any time.
//! (hyper's `graceful_shutdown` alone closes a connection with no request in progress at once:
//! one accepted just before the stop whose request is not read yet, or a keep-alive connection
//! whose next request is on its way. Both requests would fail.)

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONNECTION};
use http::StatusCode;
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

/// How long a connection with no request in progress may still send one once the worker
/// stops (see the module docs). It bounds how long idle keep-alive connections delay a stop.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// What a connection task needs besides its socket.
pub(crate) struct ConnCtx<I> {
    pub(crate) shared: Arc<Shared<I>>,
    pub(crate) http1: Arc<http1::Builder>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Dropped when the connection ends; the worker waits for all of them on shutdown.
    pub(crate) alive: mpsc::Sender<()>,
}

/// Resolves once the worker stops (or its engine is gone).
async fn stop_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
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
        let stopping = shutdown.clone();
        let svc = service_fn(move |req| {
            let response = handle(req, Arc::clone(&info), Arc::clone(&shared));
            let stopping = stopping.clone();
            async move {
                let mut response = response.await?;
                if *stopping.borrow() && response.status() != StatusCode::SWITCHING_PROTOCOLS {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let conn = http1.serve_connection(TokioIo::new(stream), svc);
        tokio::pin!(conn);
        let res = tokio::select! {
            res = conn.as_mut() => res,
            () = stop_requested(&mut shutdown) => {
                tokio::select! {
                    res = conn.as_mut() => res,
                    () = tokio::time::sleep(IDLE_GRACE) => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
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
