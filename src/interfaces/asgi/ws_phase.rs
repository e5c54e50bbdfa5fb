//! The ASGI WebSocket contract as a plain state machine (ASGI spec: WebSocket, with the
//! `websocket.http.response` denial extension). No Python and no I/O: the protocol object
//! (`ws.rs`) parses a message into a [`WsSend`], applies the [`WsAction`] this returns and
//! raises a [`WsError`] out of the `send` awaitable.
//!
//! The order: the app receives `websocket.connect` first; then it accepts
//! (`websocket.accept`), refuses (`websocket.close`, answered 403) or denies with its own
//! HTTP response (`websocket.http.response.start`, then `.body` until `more_body` is false).
//! Once accepted it sends data (`websocket.send`) until it closes (`websocket.close`).
//!
//! Generic over `A`, what an accept message carries, and `H`, the head of a denial response.

use bytes::{Bytes, BytesMut};

/// A `send` message, as far as the contract cares.
#[derive(Debug)]
pub(crate) enum WsSend<A, H> {
    Accept(A),
    Close,
    DenialStart(H),
    DenialBody { chunk: Bytes, more: bool },
    Data,
}

pub(crate) enum WsPhase<H> {
    /// `websocket.connect` not received by the app yet.
    Connecting,
    /// Waiting for the app's accept, close or denial response.
    Handshake,
    /// `websocket.http.response.start` sent: the body is being gathered.
    Denial {
        head: H,
        body: BytesMut,
    },
    Accepted,
    /// Closed by the app, refused, denied, or ended by the client. `accepted`: it was open.
    Closed {
        accepted: bool,
    },
}

/// What the protocol object does with a message that was in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WsAction<A, H> {
    /// Accept the handshake with `A`.
    Accept(A),
    /// Refuse the handshake: 403 without a body.
    Refuse,
    /// Nothing to do yet (a denial response is being gathered).
    Hold,
    /// Answer the handshake with the app's denial response: head `H`, this whole body.
    Deny(H, Bytes),
    /// Send a data frame.
    Send,
    /// Send a close frame; the connection is closed for the app.
    Close,
}

/// A `send` the contract does not allow.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WsError {
    /// A message out of order: what was expected instead.
    Order(&'static str),
    /// The connection is closed (by the app, the client, or a refusal).
    Closed,
}

/// What `receive` gives the app.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WsReceive {
    /// `websocket.connect` (the first call only).
    Connect,
    /// The connection ended before it was accepted: `websocket.disconnect` with code 1006.
    NeverOpened,
    /// The next event of the connection.
    Channel,
}

/// How the app's end leaves the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WsFinish {
    Nothing,
    /// The handshake was left open: answer with this HTTP status (403; 500 if the app failed).
    Refuse(u16),
    /// The connection was left open: close it with this code (1000; 1011 if the app failed).
    Close(u16),
}

impl<H> WsPhase<H> {
    pub(crate) fn on_receive(&mut self) -> WsReceive {
        match self {
            Self::Connecting => {
                *self = Self::Handshake;
                WsReceive::Connect
            }
            Self::Closed { accepted: false } => WsReceive::NeverOpened,
            _ => WsReceive::Channel,
        }
    }

    /// What the app may send now: the error of a message that is not it (out of order, or of
    /// an unknown type).
    pub(crate) fn expected(&self) -> WsError {
        match self {
            Self::Connecting | Self::Handshake => {
                WsError::Order("'websocket.accept', 'websocket.close' or 'websocket.http.response.start'")
            }
            Self::Denial { .. } => WsError::Order("'websocket.http.response.body'"),
            Self::Accepted => WsError::Order("'websocket.send' or 'websocket.close'"),
            Self::Closed { .. } => WsError::Closed,
        }
    }

    /// Applies one `send` message; on an error nothing changes.
    pub(crate) fn on_send<A>(&mut self, msg: WsSend<A, H>) -> Result<WsAction<A, H>, WsError> {
        match (std::mem::replace(self, Self::Closed { accepted: false }), msg) {
            (Self::Connecting | Self::Handshake, WsSend::Accept(accept)) => {
                *self = Self::Accepted;
                Ok(WsAction::Accept(accept))
            }
            (Self::Connecting | Self::Handshake, WsSend::Close) => Ok(WsAction::Refuse),
            (Self::Connecting | Self::Handshake, WsSend::DenialStart(head)) => {
                *self = Self::Denial {
                    head,
                    body: BytesMut::new(),
                };
                Ok(WsAction::Hold)
            }
            (Self::Denial { head, mut body }, WsSend::DenialBody { chunk, more }) => {
                body.extend_from_slice(&chunk);
                if more {
                    *self = Self::Denial { head, body };
                    return Ok(WsAction::Hold);
                }
                Ok(WsAction::Deny(head, body.freeze()))
            }
            (Self::Accepted, WsSend::Data) => {
                *self = Self::Accepted;
                Ok(WsAction::Send)
            }
            (Self::Accepted, WsSend::Close) => {
                *self = Self::Closed { accepted: true };
                Ok(WsAction::Close)
            }
            (before, _) => {
                *self = before;
                Err(self.expected())
            }
        }
    }

    /// The app's coroutine ended (`failed`: it raised). The phase is closed afterwards.
    pub(crate) fn on_finish(&mut self, failed: bool) -> WsFinish {
        let was = std::mem::replace(self, Self::Closed { accepted: false });
        match was {
            Self::Connecting | Self::Handshake | Self::Denial { .. } => {
                WsFinish::Refuse(if failed { 500 } else { 403 })
            }
            Self::Accepted => {
                *self = Self::Closed { accepted: true };
                WsFinish::Close(if failed { 1011 } else { 1000 })
            }
            closed @ Self::Closed { .. } => {
                *self = closed;
                WsFinish::Nothing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Msg = WsSend<&'static str, &'static str>;
    type Action = WsAction<&'static str, &'static str>;

    fn denial_body(chunk: &'static [u8], more: bool) -> Msg {
        WsSend::DenialBody {
            chunk: Bytes::from_static(chunk),
            more,
        }
    }

    /// Runs `msgs` after the app received `websocket.connect`.
    fn run(msgs: Vec<Msg>) -> (WsPhase<&'static str>, Vec<Result<Action, WsError>>) {
        let mut phase = WsPhase::Connecting;
        assert_eq!(phase.on_receive(), WsReceive::Connect);
        let acts = msgs.into_iter().map(|m| phase.on_send(m)).collect();
        (phase, acts)
    }

    #[test]
    fn connect_is_received_once() {
        let mut phase = WsPhase::<()>::Connecting;
        assert_eq!(phase.on_receive(), WsReceive::Connect);
        assert_eq!(phase.on_receive(), WsReceive::Channel);
    }

    #[test]
    fn accept_then_data_then_close() {
        let (mut phase, acts) = run(vec![WsSend::Accept("a"), WsSend::Data, WsSend::Data, WsSend::Close]);
        assert_eq!(
            acts,
            vec![
                Ok(Action::Accept("a")),
                Ok(Action::Send),
                Ok(Action::Send),
                Ok(Action::Close)
            ]
        );
        assert_eq!(phase.on_send(Msg::Data), Err(WsError::Closed));
        // Closed after being open: receive still reads the channel (the client's close).
        assert_eq!(phase.on_receive(), WsReceive::Channel);
        assert_eq!(phase.on_finish(false), WsFinish::Nothing);
    }

    #[test]
    fn accept_is_allowed_before_receiving_connect() {
        let mut phase = WsPhase::<&str>::Connecting;
        assert_eq!(phase.on_send(WsSend::<_, &str>::Accept(1)), Ok(WsAction::Accept(1)));
    }

    #[test]
    fn close_before_accept_refuses() {
        let (mut phase, acts) = run(vec![WsSend::Close]);
        assert_eq!(acts, vec![Ok(Action::Refuse)]);
        assert_eq!(phase.on_receive(), WsReceive::NeverOpened);
        assert_eq!(phase.on_send(WsSend::Accept("late")), Err(WsError::Closed));
    }

    #[test]
    fn denial_response_is_gathered_then_sent_whole() {
        let (mut phase, acts) = run(vec![
            WsSend::DenialStart("401"),
            denial_body(b"no", true),
            denial_body(b"", true),
            denial_body(b"pe", false),
        ]);
        assert_eq!(
            acts,
            vec![
                Ok(Action::Hold),
                Ok(Action::Hold),
                Ok(Action::Hold),
                Ok(Action::Deny("401", Bytes::from_static(b"nope")))
            ]
        );
        assert_eq!(phase.on_receive(), WsReceive::NeverOpened);
        assert_eq!(phase.on_finish(false), WsFinish::Nothing);
    }

    #[test]
    fn misuse_is_refused_and_changes_nothing() {
        const HANDSHAKE: &str = "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'";
        let cases: Vec<(Vec<Msg>, WsError)> = vec![
            (vec![WsSend::Data], WsError::Order(HANDSHAKE)),
            (vec![denial_body(b"x", false)], WsError::Order(HANDSHAKE)),
            (
                vec![WsSend::Accept("a"), WsSend::Accept("b")],
                WsError::Order("'websocket.send' or 'websocket.close'"),
            ),
            (
                vec![WsSend::Accept("a"), WsSend::DenialStart("h")],
                WsError::Order("'websocket.send' or 'websocket.close'"),
            ),
            (
                vec![WsSend::DenialStart("h"), WsSend::Accept("a")],
                WsError::Order("'websocket.http.response.body'"),
            ),
            (
                vec![WsSend::DenialStart("h"), WsSend::Close],
                WsError::Order("'websocket.http.response.body'"),
            ),
            (vec![WsSend::Close, WsSend::Close], WsError::Closed),
            (vec![WsSend::Accept("a"), WsSend::Close, WsSend::Close], WsError::Closed),
        ];
        for (msgs, want) in cases {
            let n = msgs.len();
            let (mut phase, acts) = run(msgs);
            assert_eq!(acts[n - 1], Err(want));
            // Nothing changed: the message the phase expects still works.
            match phase {
                WsPhase::Handshake => assert!(phase.on_send(Msg::Close).is_ok()),
                WsPhase::Denial { .. } => assert!(phase.on_send(denial_body(b"", false)).is_ok()),
                WsPhase::Accepted => assert!(phase.on_send(Msg::Data).is_ok()),
                WsPhase::Closed { .. } => assert_eq!(phase.on_send(Msg::Data), Err(WsError::Closed)),
                WsPhase::Connecting => unreachable!(),
            }
        }
    }

    #[test]
    fn finishing_settles_what_is_open() {
        let finish = |msgs, failed| run(msgs).0.on_finish(failed);
        assert_eq!(finish(vec![], false), WsFinish::Refuse(403));
        assert_eq!(finish(vec![], true), WsFinish::Refuse(500));
        assert_eq!(finish(vec![WsSend::DenialStart("h")], false), WsFinish::Refuse(403));
        assert_eq!(finish(vec![WsSend::Accept("a")], false), WsFinish::Close(1000));
        assert_eq!(finish(vec![WsSend::Accept("a")], true), WsFinish::Close(1011));
        assert_eq!(finish(vec![WsSend::Close], true), WsFinish::Nothing);
        let mut never = WsPhase::<()>::Connecting;
        assert_eq!(never.on_finish(false), WsFinish::Refuse(403));
        assert_eq!(never.on_receive(), WsReceive::NeverOpened);
    }
}
