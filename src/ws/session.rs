//! One accepted WebSocket connection, driven on the runtime thread.
//!
//! A single task reads frames, writes the app's messages and sends pings, so no lock is
//! shared between a reader and a writer. A message for an app that is not receiving yet waits
//! in `pending` while the task keeps writing what the app sends (an app that only sends and a
//! client that only sends never deadlock); no further frame is read until it is taken, so a
//! slow app slows its client down through TCP instead of filling memory.

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use yawc::close::CloseCode;
use yawc::{Frame, OpCode};

use super::channel::{Command, Event, SessionEnds};
use super::WsConfig;
use crate::bridge::{Bridge, Level};

/// How long, after a close frame was sent, the peer has to answer with its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection broke without a close frame (RFC 6455 §7.1.5).
const ABNORMAL: u16 = 1006;
/// A close frame without a code.
const NO_STATUS: u16 = 1005;

type Ws = yawc::HttpWebSocket;

pub(super) async fn run(upgrade: yawc::UpgradeFut, ends: SessionEnds, cfg: Arc<WsConfig>, bridge: Arc<Bridge>) {
    let SessionEnds { events, commands } = ends;
    let ws = match upgrade.await {
        Ok(ws) => ws,
        Err(e) => {
            bridge.log(Level::Debug, || format!("WebSocket upgrade failed: {e}"));
            let _ = events.send(Event::Closed(ABNORMAL)).await;
            return;
        }
    };
    let code = Session {
        ws,
        events,
        commands,
        cfg,
    }
    .serve()
    .await;
    bridge.log(Level::Debug, || format!("WebSocket closed ({code})"));
}

struct Session {
    ws: Ws,
    events: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
    cfg: Arc<WsConfig>,
}

impl Session {
    /// Serves until the connection is over; returns the close code the app was told.
    async fn serve(mut self) -> u16 {
        let mut pending: Option<Event> = None;
        let interval = self.cfg.ping_interval;
        let far = || Instant::now() + Duration::from_secs(86_400 * 365);
        let mut next_ping = interval.map_or_else(far, |i| Instant::now() + i);
        let mut pong_deadline: Option<Instant> = None;
        let mut closing: Option<(u16, String)> = None;
        let code = loop {
            tokio::select! {
                permit = self.events.reserve(), if pending.is_some() => {
                    // An app that stopped listening just no longer gets messages.
                    if let (Ok(permit), Some(ev)) = (permit, pending.take()) {
                        permit.send(ev);
                    }
                }
                frame = self.ws.next_frame(), if pending.is_none() => match frame {
                    Ok(frame) => match frame.opcode() {
                        OpCode::Text => pending = Some(Event::Text(frame.into_payload())),
                        OpCode::Binary => pending = Some(Event::Binary(frame.into_payload())),
                        OpCode::Close => {
                            // yawc queued the echoing close frame: send it, then we're done.
                            let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.ws.flush()).await;
                            break frame.close_code().map_or(NO_STATUS, u16::from);
                        }
                        OpCode::Pong => pong_deadline = None,
                        // Pings are answered by yawc; fragments arrive reassembled.
                        OpCode::Ping | OpCode::Continuation => {}
                    },
                    Err(_) => {
                        // A protocol error queued a close frame with its code (1002, 1007,
                        // 1009, ...): try to send it. A broken connection just ends.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.ws.flush()).await;
                        break ABNORMAL;
                    }
                },
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Text(b)) => {
                        if self.ws.send(Frame::text(b)).await.is_err() {
                            break ABNORMAL;
                        }
                    }
                    Some(Command::Binary(b)) => {
                        if self.ws.send(Frame::binary(b)).await.is_err() {
                            break ABNORMAL;
                        }
                    }
                    Some(Command::Close(code, reason)) => {
                        closing = Some((code, reason));
                        break code;
                    }
                    // The app is gone without closing: a normal close.
                    None => {
                        closing = Some((1000, String::new()));
                        break 1000;
                    }
                },
                () = sleep_until(next_ping) => {
                    next_ping = interval.map_or_else(far, |i| Instant::now() + i);
                    if pong_deadline.is_none() {
                        if self.ws.send(Frame::ping(bytes::Bytes::new())).await.is_err() {
                            break ABNORMAL;
                        }
                        pong_deadline = Some(Instant::now() + self.cfg.ping_timeout);
                    }
                }
                () = sleep_until(pong_deadline.unwrap_or_else(far)), if pong_deadline.is_some() => {
                    // No pong in time: the peer is gone or stuck; drop the connection.
                    break ABNORMAL;
                }
            }
        };
        if let Some((code, reason)) = closing {
            self.close(code, &reason).await;
        }
        if let Some(ev) = pending.take() {
            let _ = self.events.try_send(ev);
        }
        let _ = self.events.send(Event::Closed(code)).await;
        code
    }

    /// Sends our close frame and waits (bounded) for the peer's answer.
    async fn close(&mut self, code: u16, reason: &str) {
        if self.ws.send(Frame::close(CloseCode::from(code), reason)).await.is_err() {
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
