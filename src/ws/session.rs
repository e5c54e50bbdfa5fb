//! One accepted WebSocket connection, driven on the runtime thread.
//!
//! A single task reads frames, writes the app's messages and sends pings, so no lock is
//! shared between a reader and a writer. A message for an app that is not receiving yet waits
//! in `pending` while the task keeps writing what the app sends (an app that only sends and a
//! client that only sends never deadlock); no further frame is read until it is taken, so a
//! slow app slows its client down through TCP instead of filling memory.
//!
//! yawc answers a ping by queueing a pong, written the next time the socket is polled for
//! writing. The session writes it before it reads the next frame, so a peer that floods pings
//! and reads nothing fills no queue: it is held back by TCP, and dropped by the write timeout
//! (on HTTP/1.1 the connection's socket enforces it; over HTTP/2, where the stream's flow
//! control may hold writes back while the socket is fine, the session does, see [`Link`]).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use yawc::close::CloseCode;
use yawc::{Frame, OpCode};

use super::assemble::{Assembled, Assembler};
use super::channel::{Command, Event, SessionEnds};
use super::WsConfig;
use crate::bridge::{Bridge, Level};
use crate::http::drain::Drain;
use crate::http::stall::WriteStall;
use crate::metrics;

/// How long, after a close frame was sent, the peer has to answer with its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection broke without a close frame (RFC 6455 §7.1.5).
const ABNORMAL: u16 = 1006;
/// A close frame without a code.
const NO_STATUS: u16 = 1005;

/// Frames as they come (yawc's `Streaming` layer): fragments are reassembled by
/// [`Assembler`], so every protocol error is ours to answer with a close frame.
type Ws = yawc::streaming::Streaming<yawc::HttpStream>;

/// Close code and reason sent to every open session when the worker stops (RFC 6455 §7.4.1).
const GOING_AWAY: (u16, &str) = (1001, "going away");

/// What ties a session to the connection it runs on.
pub(super) struct Link {
    /// Over HTTP/2: a write of the session that does not complete in this time (the stream's
    /// flow control gives it no room) ends the session. `None` over HTTP/1.1, where the
    /// connection's socket enforces the write timeout byte by byte.
    pub(super) write_timeout: Option<Duration>,
}

/// Serves one session until it closes. When the worker stops (`drain`), the session closes
/// with [`GOING_AWAY`] and the app is told that code.
pub(super) async fn run(
    upgrade: yawc::UpgradeFut,
    ends: SessionEnds,
    link: Link,
    cfg: Arc<WsConfig>,
    bridge: Arc<Bridge>,
    drain: &Drain,
) {
    let SessionEnds { events, commands } = ends;
    let ws = match upgrade.await {
        Ok(ws) => ws.into_streaming(),
        Err(e) => {
            bridge.log(Level::Debug, || format!("WebSocket upgrade failed: {e}"));
            let _ = events.try_send(Event::Closed(ABNORMAL, String::new()));
            return;
        }
    };
    let _open = OpenSession::start();
    let code = Session {
        ws,
        events,
        commands,
        assembler: Assembler::new(cfg.max_message_size),
        cfg,
        stall: WriteStall::new(link.write_timeout),
    }
    .serve(drain.stopped())
    .await;
    bridge.log(Level::Debug, || format!("WebSocket closed ({code})"));
}

/// A session counted in the metrics (`--metrics`) while it is open.
struct OpenSession;

impl OpenSession {
    fn start() -> Self {
        metrics::record(|c| c.ws_active += 1);
        Self
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        metrics::record(|c| c.ws_active -= 1);
    }
}

struct Session {
    ws: Ws,
    events: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
    assembler: Assembler,
    cfg: Arc<WsConfig>,
    stall: WriteStall,
}

/// Awaits one write of the session (`fut`), failed by the write timeout once it waited that
/// long (see [`Link::write_timeout`]).
async fn bounded<T, E>(stall: &mut WriteStall, fut: impl Future<Output = Result<T, E>>) -> Result<T, ()> {
    tokio::pin!(fut);
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(res) => {
            let _ = stall.watch(cx, Poll::Ready(Ok(())));
            Poll::Ready(res.map_err(|_| ()))
        }
        Poll::Pending => stall.watch::<T>(cx, Poll::Pending).map(|_| Err(())),
    })
    .await
}

impl Session {
    /// Serves until the connection is over or `stopping` resolves; returns the close code the
    /// app was told.
    async fn serve(mut self, stopping: impl Future<Output = ()>) -> u16 {
        tokio::pin!(stopping);
        let mut pending: Option<Event> = None;
        let interval = self.cfg.ping_interval;
        let pong_timeout = self.cfg.ping_timeout;
        // Two timers for the whole session, re-armed in place (not one new timer per loop turn).
        let ping = sleep_until(Instant::now() + interval.unwrap_or_default());
        let pong = sleep_until(Instant::now());
        tokio::pin!(ping, pong);
        let mut awaiting_pong = false;
        // The reason of the peer's close frame, for the app (ASGI spec 2.5).
        let mut peer_reason = String::new();
        let (code, close) = loop {
            tokio::select! {
                permit = self.events.reserve(), if pending.is_some() => {
                    // An app that stopped listening just no longer gets messages.
                    if let (Ok(permit), Some(ev)) = (permit, pending.take()) {
                        permit.send(ev);
                    }
                    // No frame (so no pong) was read while the app was busy: that wait was
                    // ours, not the peer's.
                    if let (true, Some(t)) = (awaiting_pong, pong_timeout) {
                        pong.as_mut().reset(Instant::now() + t);
                    }
                }
                frame = self.ws.next_frame(), if pending.is_none() => match frame {
                    Ok(frame) => match frame.opcode() {
                        OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                            let (opcode, fin, payload) = frame.into_parts();
                            match self.assembler.push(opcode, fin, payload) {
                                Assembled::Message(ev) => {
                                    metrics::record(|c| c.ws_messages_in += 1);
                                    pending = Some(ev);
                                }
                                Assembled::More => {}
                                Assembled::Fail(code, reason) => {
                                    let _ = send(&mut self.ws, &mut self.stall, Frame::close(CloseCode::from(code), reason)).await;
                                    break (ABNORMAL, None);
                                }
                            }
                        }
                        OpCode::Close => {
                            // yawc queued the echoing close frame: send it, then we're done
                            // (the server closes the TCP connection first, RFC 6455 §7.1.1).
                            flush_queued(&mut self.ws).await;
                            peer_reason = frame.close_reason().ok().flatten().unwrap_or_default().to_owned();
                            break (frame.close_code().map_or(NO_STATUS, u16::from), None);
                        }
                        OpCode::Pong => awaiting_pong = false,
                        // yawc queued the pong: write it before reading on (see the module docs).
                        OpCode::Ping => {
                            if flush(&mut self.ws, &mut self.stall).await.is_err() {
                                break (ABNORMAL, None);
                            }
                        }
                    },
                    Err(_) => {
                        // A protocol error queued a close frame with its code (1002, 1007,
                        // 1009, ...): try to send it. A broken connection just ends.
                        flush_queued(&mut self.ws).await;
                        break (ABNORMAL, None);
                    }
                },
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Text(b)) => {
                        if send(&mut self.ws, &mut self.stall, Frame::text(b)).await.is_err() {
                            break (ABNORMAL, None);
                        }
                        metrics::record(|c| c.ws_messages_out += 1);
                    }
                    Some(Command::Binary(b)) => {
                        if send(&mut self.ws, &mut self.stall, Frame::binary(b)).await.is_err() {
                            break (ABNORMAL, None);
                        }
                        metrics::record(|c| c.ws_messages_out += 1);
                    }
                    Some(Command::Close(code, reason)) => break (code, Some(reason)),
                    // The app is gone without closing: a normal close.
                    None => break (1000, Some(String::new())),
                },
                () = &mut ping, if interval.is_some() => {
                    ping.as_mut().reset(Instant::now() + interval.unwrap_or_default());
                    if !awaiting_pong {
                        if send(&mut self.ws, &mut self.stall, Frame::ping(bytes::Bytes::new())).await.is_err() {
                            break (ABNORMAL, None);
                        }
                        awaiting_pong = true;
                        if let Some(t) = pong_timeout {
                            pong.as_mut().reset(Instant::now() + t);
                        }
                    }
                }
                () = &mut stopping => break (GOING_AWAY.0, Some(GOING_AWAY.1.to_owned())),
                // Not while a message waits for the app: no frame is read then, pongs included.
                () = &mut pong, if awaiting_pong && pong_timeout.is_some() && pending.is_none() => {
                    // No pong in time: the peer is gone or stuck; drop the connection.
                    break (ABNORMAL, None);
                }
            }
        };
        if let Some(reason) = close {
            self.close(code, &reason).await;
        }
        // Never wait for an app that stopped receiving: if the queue is full, dropping our end
        // tells it the connection is over just the same (`receive` sees the queue closed).
        if let Some(ev) = pending.take() {
            let _ = self.events.try_send(ev);
        }
        let _ = self.events.try_send(Event::Closed(code, peer_reason));
        code
    }

    /// Sends our close frame and waits (bounded) for the peer's answer.
    async fn close(&mut self, code: u16, reason: &str) {
        if send(
            &mut self.ws,
            &mut self.stall,
            Frame::close(CloseCode::from(code), reason),
        )
        .await
        .is_err()
        {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Ok(frame) = self.ws.next_frame().await {
                if frame.opcode() == OpCode::Close {
                    break;
                }
            }
        })
        .await;
    }
}

/// Sends a frame (bounded by the write timeout over HTTP/2).
async fn send(ws: &mut Ws, stall: &mut WriteStall, frame: Frame) -> Result<(), ()> {
    bounded(stall, ws.send(frame)).await
}

/// Writes what yawc queued on its own (a pong), bounded like [`send`].
async fn flush(ws: &mut Ws, stall: &mut WriteStall) -> Result<(), ()> {
    bounded(stall, async {
        poll_fn(|cx| Pin::new(&mut *ws).poll_ready(cx)).await?;
        ws.flush().await
    })
    .await
}

/// Writes the frames yawc queued on its own (the answer to a close frame, the close frame of a
/// protocol error): they go out when the sink is next polled for readiness.
async fn flush_queued(ws: &mut Ws) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        std::future::poll_fn(|cx| Pin::new(&mut *ws).poll_ready(cx)).await?;
        ws.flush().await
    })
    .await;
}
