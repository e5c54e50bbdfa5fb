//! Turns frames into messages: fragment reassembly, the message size limit and the UTF-8
//! check of text messages (RFC 6455 §5.4, §5.6, §8.1). Control frames never get here.

use bytes::{Bytes, BytesMut};
use yawc::OpCode;

use super::channel::Event;

/// Close codes of RFC 6455 §7.4.1.
pub(super) const PROTOCOL_ERROR: u16 = 1002;
pub(super) const INVALID_DATA: u16 = 1007;
pub(super) const TOO_BIG: u16 = 1009;

pub(super) enum Assembled {
    Message(Event),
    /// A fragment was stored; the message is not complete yet.
    More,
    /// The peer broke the protocol: close with this code and reason.
    Fail(u16, &'static str),
}

pub(super) struct Assembler {
    /// The opcode of the fragmented message in progress.
    kind: Option<OpCode>,
    buf: BytesMut,
    max: usize,
}

impl Assembler {
    pub(super) fn new(max: usize) -> Self {
        Self {
            kind: None,
            buf: BytesMut::new(),
            max,
        }
    }

    pub(super) fn push(&mut self, opcode: OpCode, fin: bool, payload: Bytes) -> Assembled {
        match opcode {
            OpCode::Text | OpCode::Binary => {
                if self.kind.is_some() {
                    return Assembled::Fail(PROTOCOL_ERROR, "new message inside a fragmented one");
                }
                if payload.len() > self.max {
                    return Assembled::Fail(TOO_BIG, "message too big");
                }
                if fin {
                    return finish(opcode, payload);
                }
                self.kind = Some(opcode);
                self.buf.extend_from_slice(&payload);
                Assembled::More
            }
            OpCode::Continuation => {
                let Some(kind) = self.kind else {
                    return Assembled::Fail(PROTOCOL_ERROR, "continuation frame without a message");
                };
                if self.buf.len() + payload.len() > self.max {
                    return Assembled::Fail(TOO_BIG, "message too big");
                }
                self.buf.extend_from_slice(&payload);
                if !fin {
                    return Assembled::More;
                }
                self.kind = None;
                let whole = std::mem::take(&mut self.buf).freeze();
                finish(kind, whole)
            }
            _ => Assembled::More,
        }
    }
}

fn finish(kind: OpCode, payload: Bytes) -> Assembled {
    if kind == OpCode::Binary {
        return Assembled::Message(Event::Binary(payload));
    }
    if std::str::from_utf8(&payload).is_err() {
        return Assembled::Fail(INVALID_DATA, "invalid UTF-8 in a text message");
    }
    Assembled::Message(Event::Text(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(a: Assembled) -> u16 {
        match a {
            Assembled::Fail(code, _) => code,
            _ => 0,
        }
    }

    #[test]
    fn reassembles_fragments() {
        let mut a = Assembler::new(100);
        assert!(matches!(
            a.push(OpCode::Text, false, Bytes::from_static(b"h\xc3")),
            Assembled::More
        ));
        assert!(matches!(
            a.push(OpCode::Continuation, false, Bytes::from_static(b"\xa9")),
            Assembled::More
        ));
        match a.push(OpCode::Continuation, true, Bytes::from_static(b"llo")) {
            Assembled::Message(Event::Text(t)) => assert_eq!(&t[..], "héllo".as_bytes()),
            _ => panic!("expected a text message"),
        }
    }

    #[test]
    fn protocol_errors_and_limits() {
        let mut a = Assembler::new(4);
        assert_eq!(code(a.push(OpCode::Continuation, true, Bytes::new())), PROTOCOL_ERROR);
        assert_eq!(
            code(a.push(OpCode::Binary, true, Bytes::from_static(b"12345"))),
            TOO_BIG
        );
        assert!(matches!(
            a.push(OpCode::Binary, true, Bytes::from_static(b"1234")),
            Assembled::Message(_)
        ));
        assert!(matches!(
            a.push(OpCode::Binary, false, Bytes::from_static(b"123")),
            Assembled::More
        ));
        assert_eq!(code(a.push(OpCode::Text, true, Bytes::new())), PROTOCOL_ERROR);
        let mut a = Assembler::new(4);
        assert!(matches!(
            a.push(OpCode::Binary, false, Bytes::from_static(b"123")),
            Assembled::More
        ));
        assert_eq!(
            code(a.push(OpCode::Continuation, true, Bytes::from_static(b"45"))),
            TOO_BIG
        );
        assert_eq!(
            code(Assembler::new(9).push(OpCode::Text, true, Bytes::from_static(b"\xff"))),
            INVALID_DATA
        );
    }
}
