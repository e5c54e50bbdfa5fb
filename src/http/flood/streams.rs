//! Which HTTP/2 streams are open, as seen from the frames that pass (for the keep-alive
//! timeout: a connection with an open stream is never idle).
//!
//! A stream opens with the client's first HEADERS on a new (odd) id and stays open until the
//! server's frame carrying END_STREAM was handed to the socket, or a RST_STREAM passed either
//! way. So a response whose last bytes wait in h2's buffers for the client's flow-control window
//! keeps its stream open, and so does an extended CONNECT tunnel (a WebSocket) for its whole
//! life.

use super::frames::{FrameHead, DATA, END_STREAM, HEADERS, RST_STREAM};

#[derive(Debug, Default)]
pub(crate) struct OpenStreams {
    /// The open streams' ids, oldest first (a handful at a time, bounded by the concurrent
    /// streams setting: a linear search beats hashing, and the client cannot steer it).
    open: Vec<u32>,
    /// The highest stream id the client opened: HEADERS on a lower id are trailers, or late.
    last: u32,
}

impl OpenStreams {
    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// A frame the client sent.
    pub(crate) fn received(&mut self, f: &FrameHead) {
        match f.kind {
            HEADERS if f.stream > self.last && f.stream % 2 == 1 => {
                self.last = f.stream;
                self.open.push(f.stream);
            }
            RST_STREAM => self.close(f.stream),
            _ => {}
        }
    }

    /// A frame the server sent (handed to the socket).
    pub(crate) fn sent(&mut self, f: &FrameHead) {
        let ends = match f.kind {
            DATA | HEADERS => f.has(END_STREAM),
            RST_STREAM => true,
            // CONTINUATION has no END_STREAM of its own: the HEADERS it continues carried it.
            _ => false,
        };
        if ends {
            self.close(f.stream);
        }
    }

    fn close(&mut self, stream: u32) {
        if let Some(at) = self.open.iter().position(|id| *id == stream) {
            self.open.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frames::{PRIORITY, WINDOW_UPDATE};
    use super::*;

    fn head(kind: u8, flags: u8, stream: u32) -> FrameHead {
        FrameHead {
            len: 10,
            kind,
            flags,
            stream,
            pad: 0,
        }
    }

    #[test]
    fn a_stream_is_open_until_the_server_ends_it() {
        let mut streams = OpenStreams::default();
        streams.received(&head(HEADERS, END_STREAM | 0x4, 1));
        assert!(!streams.is_empty(), "a request without body: open until answered");
        streams.sent(&head(HEADERS, 0x4, 1));
        streams.sent(&head(DATA, 0, 1));
        assert!(!streams.is_empty(), "answered in part");
        streams.sent(&head(DATA, END_STREAM, 1));
        assert!(streams.is_empty());
        // Trailers, or frames arriving late, do not reopen it.
        streams.received(&head(HEADERS, END_STREAM | 0x4, 1));
        streams.received(&head(DATA, END_STREAM, 1));
        assert!(streams.is_empty());
    }

    #[test]
    fn a_reset_either_way_closes_a_stream() {
        let mut streams = OpenStreams::default();
        streams.received(&head(HEADERS, 0x4, 1));
        streams.received(&head(HEADERS, 0x4, 3));
        streams.received(&head(RST_STREAM, 0, 1));
        assert!(!streams.is_empty());
        streams.sent(&head(RST_STREAM, 0, 3));
        assert!(streams.is_empty());
    }

    #[test]
    fn a_tunnel_stays_open_while_data_flows_both_ways() {
        let mut streams = OpenStreams::default();
        streams.received(&head(HEADERS, 0x4, 1)); // CONNECT
        streams.sent(&head(HEADERS, 0x4, 1)); // 200
        for _ in 0..10 {
            streams.received(&head(DATA, 0, 1));
            streams.sent(&head(DATA, 0, 1));
            streams.received(&head(WINDOW_UPDATE, 0, 1));
        }
        assert!(!streams.is_empty());
        streams.sent(&head(DATA, END_STREAM, 1));
        assert!(streams.is_empty());
    }

    #[test]
    fn frames_that_open_nothing() {
        let mut streams = OpenStreams::default();
        streams.received(&head(PRIORITY, 0, 5));
        streams.received(&head(HEADERS, 0x4, 2)); // even: not a client stream
        streams.sent(&head(DATA, END_STREAM, 7));
        assert!(streams.is_empty());
    }
}
