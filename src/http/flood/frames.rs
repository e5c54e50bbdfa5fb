//! Splitting an HTTP/2 byte stream into frames, by their 9-byte headers (RFC 9113 §4.1), as
//! it passes: payloads are skipped, never copied or parsed. Plain data, fed with whatever
//! slices the socket produced.

/// Frame types (RFC 9113 §6).
pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const PRIORITY: u8 = 0x2;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

/// Flags.
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY_FLAG: u8 = 0x20;

pub(crate) const HEADER_LEN: usize = 9;
/// What a client sends before its first frame (RFC 9113 §3.4).
pub(crate) const CLIENT_PREFACE_LEN: usize = 24;

/// One frame's header, and its Pad Length octet when it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub(crate) len: u32,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    /// Pad Length of a PADDED DATA or HEADERS frame, 0 otherwise.
    pub(crate) pad: u8,
}

impl FrameHead {
    fn parse(b: &[u8; HEADER_LEN]) -> Self {
        Self {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
            pad: 0,
        }
    }

    /// The frame's header as written on the wire.
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let len = self.len.to_be_bytes();
        let id = (self.stream & 0x7fff_ffff).to_be_bytes();
        [
            len[1], len[2], len[3], self.kind, self.flags, id[0], id[1], id[2], id[3],
        ]
    }

    fn has_pad_length(&self) -> bool {
        matches!(self.kind, DATA | HEADERS) && self.flags & PADDED != 0 && self.len > 0
    }

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The bytes the frame carries for the application: its length without the padding
    /// fields and, on HEADERS, the priority fields.
    pub(crate) fn content_len(&self) -> u32 {
        let mut overhead = 0;
        if self.has_pad_length() {
            overhead += 1 + u32::from(self.pad);
        }
        if self.kind == HEADERS && self.has(PRIORITY_FLAG) {
            overhead += 5;
        }
        self.len.saturating_sub(overhead)
    }
}

/// Where a byte stream is, frame-wise.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scanner {
    /// Bytes of the client preface still to pass (read side only).
    preface: u8,
    head: [u8; HEADER_LEN],
    got: u8,
    /// A PADDED frame whose Pad Length octet is the next byte.
    waiting_pad: Option<FrameHead>,
    /// Payload bytes of the current frame still to pass.
    rest: u32,
    /// Type of the frame whose payload is passing.
    kind: u8,
    /// Whether that frame is a PING acknowledgement.
    ping_ack: bool,
}

impl Scanner {
    /// The server's reading side: the client preface comes first.
    pub(crate) fn client() -> Self {
        Self {
            preface: CLIENT_PREFACE_LEN as u8,
            ..Self::default()
        }
    }

    /// The server's writing side: frames from the first byte.
    pub(crate) fn server() -> Self {
        Self::default()
    }

    /// Between two frames: the next byte starts a frame header.
    pub(crate) fn at_boundary(&self) -> bool {
        self.preface == 0 && self.got == 0 && self.waiting_pad.is_none() && self.rest == 0
    }

    /// Bytes needed to finish the current step (preface, header, pad octet or payload).
    fn need(&self) -> usize {
        if self.preface > 0 {
            usize::from(self.preface)
        } else if self.rest > 0 {
            self.rest as usize
        } else if self.waiting_pad.is_some() {
            1
        } else {
            HEADER_LEN - usize::from(self.got)
        }
    }

    /// Passes `bytes`, calling `each` with every frame header completed in them. Returns
    /// whether any of them belonged to something else than PING frames flagged `skip_ping`
    /// (`Some(ACK)`: acknowledgements only; `Some(0)`: every PING).
    pub(crate) fn feed(&mut self, mut bytes: &[u8], skip_ping: Option<u8>, mut each: impl FnMut(FrameHead)) -> bool {
        let skipped = |kind: u8, flags: u8| kind == PING && skip_ping.is_some_and(|f| flags & f == f);
        let mut other = false;
        while !bytes.is_empty() {
            let n = self.need().min(bytes.len());
            if self.preface > 0 {
                self.preface -= n as u8;
                other = true;
            } else if self.rest > 0 {
                self.rest -= n as u32;
                other |= !(self.kind == PING && self.ping_ack);
            } else if let Some(mut head) = self.waiting_pad.take() {
                head.pad = bytes[0];
                self.begin_payload(head, head.len - 1);
                each(head);
                other = true;
            } else {
                let got = usize::from(self.got);
                self.head[got..got + n].copy_from_slice(&bytes[..n]);
                self.got += n as u8;
                if usize::from(self.got) == HEADER_LEN {
                    self.got = 0;
                    let head = FrameHead::parse(&self.head);
                    let skip = skipped(head.kind, head.flags);
                    other |= !skip;
                    if head.has_pad_length() {
                        self.waiting_pad = Some(head);
                    } else {
                        self.begin_payload(head, head.len);
                        self.ping_ack = skip;
                        each(head);
                    }
                }
                // A header still incomplete counts once whole, as what it turns out to be.
            }
            bytes = &bytes[n..];
        }
        other
    }

    fn begin_payload(&mut self, head: FrameHead, rest: u32) {
        self.rest = rest;
        self.kind = head.kind;
        self.ping_ack = false;
    }

    /// How many of `bytes` finish the frame in progress: 0 at a boundary, `None` when they
    /// end before it does.
    pub(crate) fn bytes_to_boundary(&self, bytes: &[u8]) -> Option<usize> {
        let mut probe = *self;
        let mut used = 0;
        while !probe.at_boundary() {
            let n = probe.need().min(bytes.len() - used);
            if n == 0 {
                return None;
            }
            probe.feed(&bytes[used..used + n], None, |_| {});
            used += n;
        }
        Some(used)
    }
}

/// A whole frame (head and payload) as a peer would send it; for the tests of the flood guard.
#[cfg(test)]
pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let head = FrameHead {
        len: payload.len() as u32,
        kind,
        flags,
        stream,
        pad: 0,
    };
    let mut out = head.encode().to_vec();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(scanner: &mut Scanner, bytes: &[u8]) -> Vec<FrameHead> {
        let mut out = Vec::new();
        scanner.feed(bytes, None, |h| out.push(h));
        out
    }

    fn stream_of_frames() -> Vec<u8> {
        let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        wire.extend(frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
        wire.extend(frame(HEADERS, 0x4 | PADDED, 1, &[2, 0x82, 0, 0]));
        wire.extend(frame(DATA, END_STREAM, 1, b"hello"));
        wire.extend(frame(PING, ACK, 0, &[0; 8]));
        wire
    }

    #[test]
    fn frames_are_found_whatever_the_slicing() {
        let wire = stream_of_frames();
        let mut whole = Scanner::client();
        let expected = heads(&mut whole, &wire);
        assert_eq!(
            expected.iter().map(|h| (h.kind, h.stream, h.len)).collect::<Vec<_>>(),
            [(SETTINGS, 0, 6), (HEADERS, 1, 4), (DATA, 1, 5), (PING, 0, 8)]
        );
        assert!(whole.at_boundary());
        for step in 1..wire.len() {
            let mut sliced = Scanner::client();
            let mut got = Vec::new();
            for piece in wire.chunks(step) {
                got.extend(heads(&mut sliced, piece));
            }
            assert_eq!(got, expected, "{step}-byte slices");
        }
    }

    #[test]
    fn padding_and_priority_fields_are_not_content() {
        let mut scanner = Scanner::server();
        // HEADERS, PADDED (2 bytes of padding) and PRIORITY, with no header block at all.
        let mut wire = frame(HEADERS, PADDED | PRIORITY_FLAG, 1, &[2, 0, 0, 0, 0, 16, 0, 0]);
        wire.extend(frame(DATA, PADDED, 1, &[3, b'a', 0, 0, 0]));
        wire.extend(frame(DATA, 0, 1, b""));
        let got = heads(&mut scanner, &wire);
        assert_eq!(got[0].pad, 2);
        assert_eq!(got[0].content_len(), 0);
        assert_eq!((got[1].pad, got[1].content_len()), (3, 1));
        assert_eq!(got[2].content_len(), 0);
    }

    #[test]
    fn the_preface_is_passed_on_the_read_side_only() {
        let mut read = Scanner::client();
        assert!(!read.at_boundary());
        assert!(heads(&mut read, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").is_empty());
        assert!(read.at_boundary());
        assert!(Scanner::server().at_boundary());
    }

    #[test]
    fn the_way_to_the_next_boundary() {
        let wire = frame(DATA, 0, 1, &[7; 100]);
        let mut scanner = Scanner::server();
        assert_eq!(scanner.bytes_to_boundary(&wire), Some(0));
        scanner.feed(&wire[..4], None, |_| {});
        assert_eq!(scanner.bytes_to_boundary(&wire[4..]), Some(wire.len() - 4));
        assert_eq!(scanner.bytes_to_boundary(&wire[4..50]), None);
        scanner.feed(&wire[4..50], None, |_| {});
        let mut next = wire[50..].to_vec();
        next.extend(frame(PING, 0, 0, &[0; 8]));
        assert_eq!(scanner.bytes_to_boundary(&next), Some(wire.len() - 50));
    }

    #[test]
    fn ping_frames_can_be_left_out_of_the_activity() {
        let ack = frame(PING, ACK, 0, &[0; 8]);
        let ping = frame(PING, 0, 0, &[0; 8]);
        let mut scanner = Scanner::server();
        assert!(!scanner.feed(&ack, Some(ACK), |_| {}), "an acknowledgement only");
        assert!(scanner.feed(&ping, Some(ACK), |_| {}), "a ping of the peer's own");
        assert!(!scanner.feed(&ping, Some(0), |_| {}), "every ping left out");
        // Bytes of an acknowledgement split over reads.
        assert!(!scanner.feed(&ack[..12], Some(ACK), |_| {}));
        assert!(!scanner.feed(&ack[12..], Some(ACK), |_| {}));
        assert!(scanner.feed(&frame(DATA, 0, 1, b"x"), Some(ACK), |_| {}));
    }

    #[test]
    fn headers_round_trip() {
        let head = FrameHead {
            len: 0x01_0203,
            kind: GOAWAY,
            flags: 0,
            stream: 0x7fff_ffff,
            pad: 0,
        };
        let mut scanner = Scanner::server();
        assert_eq!(heads(&mut scanner, &head.encode()), [head]);
    }
}
