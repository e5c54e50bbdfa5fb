//! tokio runtimes of a worker: `st` = N current-thread runtimes each accepting on its own
//! duplicate of the socket; `mt` = one multi-thread runtime with N threads.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{watch, Semaphore};

use crate::bridge::{Level, Outbox};
use crate::config::{EngineConfig, RuntimeMode};
use crate::http::conn::{spawn_connection, ConnCtx, Protocols};
use crate::http::drain::Drain;
use crate::http::handler::{Interface, Shared};
use crate::metrics::TimeoutKind;
use crate::net::{accept_loop, dup, Listener};

/// Serves the listening socket until the drain stops it, then settles the drain: waits for
/// every connection to finish, cutting them at the graceful timeout.
async fn serve<I: Interface>(
    socket: socket2::Socket,
    shared: Arc<Shared<I>>,
    protocols: Arc<Protocols>,
    permits: Arc<Semaphore>,
    drain: Arc<Drain>,
) {
    let bridge = Arc::clone(&shared.bridge);
    let listener = match Listener::from_socket(socket) {
        Ok(l) => l,
        Err(e) => {
            bridge.log(Level::Error, || format!("cannot use the listening socket: {e}"));
            return;
        }
    };
    let scheme = protocols.scheme();
    let outbox = Outbox::start();
    accept_loop(
        listener,
        scheme,
        permits,
        drain.stopping(),
        Arc::clone(&bridge),
        |stream, info, permit| {
            let ctx = ConnCtx {
                shared: Arc::clone(&shared),
                protocols: Arc::clone(&protocols),
                outbox: Arc::clone(&outbox),
            };
            spawn_connection(stream, info, permit, ctx, drain.track());
        },
    )
    .await;
    drain
        .settle(|left| {
            crate::metrics::record(|c| c.timeouts[TimeoutKind::Graceful as usize] += left as u64);
            bridge.log(Level::Warning, || {
                format!("Graceful timeout reached: cutting {left} connection(s) still open")
            });
        })
        .await;
}

/// Starts the runtime threads, each on its own duplicate of the listening socket `fd` (taken
/// here: the caller may close `fd` once this returns). `on_all_done` runs once, on the last
/// runtime to settle its drain (every connection over). Each runtime then keeps running (the
/// tasks an app still awaits are served) until `release` flips or its sender is dropped; then
/// its thread exits.
pub(crate) fn start<I: Interface>(
    fd: RawFd,
    cfg: &EngineConfig,
    shared: Arc<Shared<I>>,
    protocols: Protocols,
    drain: &Arc<Drain>,
    release: &watch::Sender<bool>,
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
    let sockets = (0..count)
        .map(|_| dup(fd))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot use the listening socket (fd {fd}): {e}")))?;
    for (i, socket) in sockets.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let protocols = Arc::clone(&protocols);
        let permits = Arc::clone(&permits);
        let drain = Arc::clone(drain);
        let mut release = release.subscribe();
        let remaining = Arc::clone(&remaining);
        let on_all_done = Arc::clone(&on_all_done);
        let blocking = cfg.runtime_blocking_threads;
        let metrics = shared.metrics.clone();
        let done = move || {
            if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                if let Some(f) = crate::bridge::lock(&on_all_done).take() {
                    f();
                }
            }
        };
        let handle = std::thread::Builder::new()
            .name(format!("granian-rt-{i}"))
            .spawn(move || {
                super::sched::batch_current_thread();
                // Every thread that serves connections records into its own shard.
                if let Some(m) = &metrics {
                    crate::metrics::enter(m);
                }
                let bridge = Arc::clone(&shared.bridge);
                let rt = if threads_per_rt == 1 {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .max_blocking_threads(blocking)
                        .build()
                } else {
                    let metrics = metrics.clone();
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(threads_per_rt)
                        .thread_name("granian-rt")
                        .on_thread_start(move || {
                            super::sched::batch_current_thread();
                            if let Some(m) = &metrics {
                                crate::metrics::enter(m);
                            }
                        })
                        .enable_all()
                        .max_blocking_threads(blocking)
                        .build()
                };
                match rt {
                    Ok(rt) => {
                        rt.block_on(async move {
                            // One keep-alive sweeper per worker, on the first runtime.
                            if let Some(timeout) = protocols.keep_alive_timeout.filter(|_| i == 0) {
                                tokio::spawn(Arc::clone(&drain).sweep_idle(timeout));
                            }
                            serve(socket, shared, protocols, permits, drain).await;
                            done();
                            let _ = release.wait_for(|r| *r).await;
                        });
                        rt.shutdown_background();
                    }
                    Err(e) => {
                        bridge.log(Level::Error, || format!("cannot start the tokio runtime: {e}"));
                        done();
                    }
                }
            })
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start runtime threads: {e}")))?;
        handles.push(handle);
    }
    Ok(handles)
}
