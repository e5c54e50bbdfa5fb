//! tokio runtimes of a worker: `st` = N current-thread runtimes each accepting on its own
//! duplicate of the socket; `mt` = one multi-thread runtime with N threads.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, watch, Semaphore};

use crate::bridge::{Level, Outbox};
use crate::config::{EngineConfig, RuntimeMode};
use crate::http::conn::{spawn_connection, ConnCtx, Protocols};
use crate::http::handler::{Interface, Shared};
use crate::net::{accept_loop, Listener};

/// Serves the listening socket until `shutdown`, then waits for every connection to finish.
async fn serve<I: Interface>(
    fd: RawFd,
    shared: Arc<Shared<I>>,
    protocols: Arc<Protocols>,
    permits: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
) {
    let bridge = Arc::clone(&shared.bridge);
    let listener = match Listener::from_fd(fd) {
        Ok(l) => l,
        Err(e) => {
            bridge.log(Level::Error, || {
                format!("cannot use the listening socket (fd {fd}): {e}")
            });
            return;
        }
    };
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let conn_shutdown = shutdown.clone();
    let scheme = protocols.scheme();
    let outbox = Outbox::start();
    accept_loop(
        listener,
        scheme,
        permits,
        shutdown,
        Arc::clone(&bridge),
        |stream, info, permit| {
            let ctx = ConnCtx {
                shared: Arc::clone(&shared),
                protocols: Arc::clone(&protocols),
                shutdown: conn_shutdown.clone(),
                alive: alive_tx.clone(),
                outbox: Arc::clone(&outbox),
            };
            spawn_connection(stream, info, permit, ctx);
        },
    )
    .await;
    drop(alive_tx);
    // `recv` yields None once every connection task dropped its sender.
    let _ = alive_rx.recv().await;
}

/// Starts the runtime threads. `on_all_done` runs once, on the last thread to finish.
pub(crate) fn start<I: Interface>(
    fd: RawFd,
    cfg: &EngineConfig,
    shared: Arc<Shared<I>>,
    protocols: Protocols,
    shutdown: &watch::Sender<bool>,
    on_all_done: impl FnOnce() + Send + 'static,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let protocols = Arc::new(protocols);
    let permits = Arc::new(Semaphore::new(cfg.backpressure));
    let (count, threads_per_rt) = match cfg.runtime_mode {
        RuntimeMode::SingleThread => (cfg.runtime_threads, 1),
        RuntimeMode::MultiThread => (1, cfg.runtime_threads),
    };
    let remaining = Arc::new(AtomicUsize::new(count));
    let on_all_done = Arc::new(std::sync::Mutex::new(Some(on_all_done)));
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let shared = Arc::clone(&shared);
        let protocols = Arc::clone(&protocols);
        let permits = Arc::clone(&permits);
        let rx = shutdown.subscribe();
        let remaining = Arc::clone(&remaining);
        let on_all_done = Arc::clone(&on_all_done);
        let blocking = cfg.runtime_blocking_threads;
        let handle = std::thread::Builder::new()
            .name(format!("granian-rt-{i}"))
            .spawn(move || {
                super::sched::batch_current_thread();
                let bridge = Arc::clone(&shared.bridge);
                let rt = if threads_per_rt == 1 {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .max_blocking_threads(blocking)
                        .build()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(threads_per_rt)
                        .thread_name("granian-rt")
                        .on_thread_start(super::sched::batch_current_thread)
                        .enable_all()
                        .max_blocking_threads(blocking)
                        .build()
                };
                match rt {
                    Ok(rt) => {
                        rt.block_on(serve(fd, shared, protocols, permits, rx));
                        rt.shutdown_background();
                    }
                    Err(e) => bridge.log(Level::Error, || format!("cannot start the tokio runtime: {e}")),
                }
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    if let Some(f) = crate::bridge::lock(&on_all_done).take() {
                        f();
                    }
                }
            })?;
        handles.push(handle);
    }
    Ok(handles)
}
