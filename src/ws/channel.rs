//! The Python side of a WebSocket session: the two queues between the app and the session
//! task, and the awaitables `receive` and `send` return. ASGI and RSGI wrap it in their own
//! message shapes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::prelude::*;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

use crate::bridge::{lock, send_or_wait, spawn_awaitable, until_room, Awaitable, Bridge};

/// Messages queued ahead of the app (from the client) or of the socket (from the app).
const QUEUE: usize = 16;

/// What the session tells the app.
pub(crate) enum Event {
    /// A text message (valid UTF-8, checked by the framing layer).
    Text(Bytes),
    Binary(Bytes),
    /// The connection is over: the client's close code (1005 when it gave none, 1006 when
    /// the connection broke without a close frame) and reason (empty when none).
    Closed(u16, String),
}

/// What the app asks the session to do.
pub(crate) enum Command {
    Text(Bytes),
    Binary(Bytes),
    Close(u16, String),
}

/// The session task's ends of the two queues, handed over when the app accepts.
pub(crate) struct SessionEnds {
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) commands: mpsc::Receiver<Command>,
}

/// Turns the next event (`None`: the session is gone) into the interface's message.
pub(crate) type Convert = fn(Python<'_>, Option<Event>) -> PyResult<Py<PyAny>>;

pub(crate) struct WsChannel {
    events: Arc<tokio::sync::Mutex<mpsc::Receiver<Event>>>,
    commands: mpsc::Sender<Command>,
    ends: Mutex<Option<SessionEnds>>,
    /// A `receive` is waiting (a second one at the same time is an error).
    receiving: Arc<AtomicBool>,
    /// The app was told the connection is over.
    closed: Arc<AtomicBool>,
    rt: tokio::runtime::Handle,
    bridge: Arc<Bridge>,
}

impl WsChannel {
    pub(crate) fn new(rt: tokio::runtime::Handle, bridge: Arc<Bridge>) -> Self {
        let (ev_tx, ev_rx) = mpsc::channel(QUEUE);
        let (cmd_tx, cmd_rx) = mpsc::channel(QUEUE);
        Self {
            events: Arc::new(tokio::sync::Mutex::new(ev_rx)),
            commands: cmd_tx,
            ends: Mutex::new(Some(SessionEnds {
                events: ev_tx,
                commands: cmd_rx,
            })),
            receiving: Arc::new(AtomicBool::new(false)),
            closed: Arc::new(AtomicBool::new(false)),
            rt,
            bridge,
        }
    }

    /// The session's ends, once (on accept).
    pub(crate) fn take_ends(&self) -> Option<SessionEnds> {
        lock(&self.ends).take()
    }

    /// Whether the app was told the connection is over.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The next event as the interface's message. `Err(())` when another receive is waiting.
    pub(crate) fn receive<'py>(
        &self,
        py: Python<'py>,
        convert: Convert,
    ) -> PyResult<Result<Bound<'py, Awaitable>, ()>> {
        if self.receiving.swap(true, Ordering::AcqRel) {
            return Ok(Err(()));
        }
        if let Ok(mut rx) = self.events.try_lock() {
            match rx.try_recv() {
                Ok(ev) => {
                    self.receiving.store(false, Ordering::Release);
                    if matches!(ev, Event::Closed(..)) {
                        self.closed.store(true, Ordering::Release);
                    }
                    return Awaitable::ready(py, convert(py, Some(ev))?).map(Ok);
                }
                Err(TryRecvError::Disconnected) => {
                    self.receiving.store(false, Ordering::Release);
                    self.closed.store(true, Ordering::Release);
                    return Awaitable::ready(py, convert(py, None)?).map(Ok);
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        let events = Arc::clone(&self.events);
        let receiving = Arc::clone(&self.receiving);
        let closed = Arc::clone(&self.closed);
        let next = async move {
            let ev = events.lock().await.recv().await;
            receiving.store(false, Ordering::Release);
            if matches!(ev, None | Some(Event::Closed(..))) {
                closed.store(true, Ordering::Release);
            }
            ev
        };
        spawn_awaitable(py, &self.rt, &self.bridge, next, convert).map(Ok)
    }

    /// Queues `cmd` for the socket; the awaitable completes once it is queued. `closed` makes
    /// the error raised when the session is gone.
    pub(crate) fn send<'py>(
        &self,
        py: Python<'py>,
        cmd: Command,
        closed: fn() -> PyErr,
    ) -> PyResult<Bound<'py, Awaitable>> {
        send_or_wait(py, &self.commands, cmd, until_room, &self.rt, &self.bridge, closed)
    }

    /// Asks the session to close without waiting (the app is done); never blocks.
    pub(crate) fn close_now(&self, code: u16) {
        match self.commands.try_send(Command::Close(code, String::new())) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(cmd)) => {
                let tx = self.commands.clone();
                self.rt.spawn(async move {
                    let _ = tx.send(cmd).await;
                });
            }
        }
    }
}
