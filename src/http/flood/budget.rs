//! How many frames that do nothing for the server an HTTP/2 peer may send, as plain data.
//!
//! Modelled on envoy's HTTP/2 protocol options, counted per connection:
//!
//! | frames | bound | envoy |
//! |---|---|---|
//! | DATA or HEADERS without END_STREAM, CONTINUATION, carrying no content (padding only or nothing) | 16 in a row | `max_consecutive_inbound_frames_with_empty_payload` (1) |
//! | PRIORITY, and frames of unknown types (both ignored) | 100 per stream opened, plus 100 | `max_inbound_priority_frames_per_stream` (100) |
//! | WINDOW_UPDATE | 100, plus 2 per stream opened, plus 10 per DATA frame sent | `max_inbound_window_update_frames_per_data_frame_sent` (10) |
//! | RST_STREAM | 100, plus 4 per stream opened | (envoy bounds the resets it sends) |
//!
//! A client resets a stream it gave up on, and answers a frame that arrives on a stream it
//! considers closed with a reset too (python's h2 does, for the WINDOW_UPDATE that follows an
//! upload); it asks for more data after data it received, and sends PRIORITY frames (when it
//! does) about the streams it opens; browsers, curl, grpc, h2load and
//! httpx stay far below these. What the h2 crate already bounds is left to it: unanswered
//! SETTINGS and PING (it queues one answer of each, at most 16 KiB of them in its write buffer,
//! then stops reading until they are written), rapid resets (`max_pending_accept_reset_streams`),
//! streams it resets itself (`max_local_error_reset_streams`), CONTINUATION frames per header
//! block, empty and tiny DATA frames.

use super::frames::{
    FrameHead, CONTINUATION, DATA, END_STREAM, GOAWAY, HEADERS, PING, PRIORITY, PUSH_PROMISE, RST_STREAM, SETTINGS,
    WINDOW_UPDATE,
};

/// The bounds (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) empty_in_a_row: u32,
    pub(crate) ignored_per_stream: u64,
    pub(crate) window_updates_base: u64,
    pub(crate) window_updates_per_stream: u64,
    pub(crate) window_updates_per_data_frame: u64,
    pub(crate) resets_base: u64,
    pub(crate) resets_per_stream: u64,
}

pub(crate) const LIMITS: Limits = Limits {
    empty_in_a_row: 16,
    ignored_per_stream: 100,
    window_updates_base: 100,
    window_updates_per_stream: 2,
    window_updates_per_data_frame: 10,
    resets_base: 100,
    resets_per_stream: 4,
};

/// Which bound a peer went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flood {
    EmptyFrames,
    IgnoredFrames,
    WindowUpdates,
    Resets,
}

impl Flood {
    /// The GOAWAY's debug data (and the log's wording); distinct from h2's own (`too_many_*`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::EmptyFrames => "flood_of_empty_frames",
            Self::IgnoredFrames => "flood_of_priority_or_unknown_frames",
            Self::WindowUpdates => "flood_of_window_updates",
            Self::Resets => "flood_of_resets",
        }
    }
}

/// The counts of one connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget {
    streams: u64,
    last_stream: u32,
    data_sent: u64,
    empty_run: u32,
    ignored: u64,
    window_updates: u64,
    resets: u64,
}

impl Budget {
    /// The highest stream the peer opened (the GOAWAY's last stream).
    pub(crate) fn last_stream(&self) -> u32 {
        self.last_stream
    }

    /// Counts a frame the peer sent; `Err` once it went past a bound.
    pub(crate) fn received(&mut self, f: &FrameHead, limits: &Limits) -> Result<(), Flood> {
        match f.kind {
            DATA | HEADERS | CONTINUATION => {
                if f.kind == HEADERS && f.stream > self.last_stream && f.stream % 2 == 1 {
                    self.streams += 1;
                    self.last_stream = f.stream;
                }
                let ends_stream = f.kind != CONTINUATION && f.has(END_STREAM);
                if f.content_len() == 0 && !ends_stream {
                    self.empty_run += 1;
                    if self.empty_run > limits.empty_in_a_row {
                        return Err(Flood::EmptyFrames);
                    }
                } else {
                    self.empty_run = 0;
                }
            }
            RST_STREAM => {
                self.resets += 1;
                if self.resets > limits.resets_base + limits.resets_per_stream * self.streams {
                    return Err(Flood::Resets);
                }
            }
            WINDOW_UPDATE => {
                self.window_updates += 1;
                let allowed = limits.window_updates_base
                    + limits.window_updates_per_stream * self.streams
                    + limits.window_updates_per_data_frame * self.data_sent;
                if self.window_updates > allowed {
                    return Err(Flood::WindowUpdates);
                }
            }
            // Answered (and bounded) by h2, or a protocol error it closes the connection for.
            SETTINGS | PING | GOAWAY | PUSH_PROMISE => {}
            // Ignored by the server, as are frames of unknown types (RFC 9113 §5.5).
            PRIORITY => return self.count_ignored(limits),
            _ => return self.count_ignored(limits),
        }
        Ok(())
    }

    fn count_ignored(&mut self, limits: &Limits) -> Result<(), Flood> {
        self.ignored += 1;
        if self.ignored > limits.ignored_per_stream * (1 + self.streams) {
            return Err(Flood::IgnoredFrames);
        }
        Ok(())
    }

    /// Counts a frame the server sent.
    pub(crate) fn sent(&mut self, f: &FrameHead) {
        if f.kind == DATA {
            self.data_sent += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frames::{PADDED, WINDOW_UPDATE};
    use super::*;

    fn head(kind: u8, flags: u8, stream: u32, len: u32) -> FrameHead {
        FrameHead {
            len,
            kind,
            flags,
            stream,
            pad: 0,
        }
    }

    /// Feeds `f` until the budget refuses it; returns how many were accepted.
    fn accepted(budget: &mut Budget, f: FrameHead, up_to: u64) -> u64 {
        for n in 0..up_to {
            if budget.received(&f, &LIMITS).is_err() {
                return n;
            }
        }
        up_to
    }

    fn open_streams(budget: &mut Budget, n: u32) {
        for i in 0..n {
            budget
                .received(&head(HEADERS, 0x4 | END_STREAM, 2 * i + 1, 20), &LIMITS)
                .unwrap();
        }
    }

    #[test]
    fn empty_frames_in_a_row() {
        let mut budget = Budget::default();
        let empty_data = head(DATA, 0, 1, 0);
        assert_eq!(
            accepted(&mut budget, empty_data, 1000),
            u64::from(LIMITS.empty_in_a_row)
        );
        assert_eq!(budget.received(&empty_data, &LIMITS), Err(Flood::EmptyFrames));

        // Content in between starts the count again; END_STREAM is not empty.
        let mut budget = Budget::default();
        for _ in 0..100 {
            assert_eq!(accepted(&mut budget, empty_data, 10), 10);
            budget.received(&head(DATA, 0, 1, 1), &LIMITS).unwrap();
            budget.received(&head(DATA, END_STREAM, 1, 0), &LIMITS).unwrap();
        }
        // Padding only is no content; empty CONTINUATION and HEADERS count too.
        let mut padded = head(DATA, PADDED, 1, 10);
        padded.pad = 9;
        for f in [padded, head(CONTINUATION, 0, 1, 0), head(HEADERS, 0, 3, 0)] {
            let mut budget = Budget::default();
            assert_eq!(accepted(&mut budget, f, 1000), u64::from(LIMITS.empty_in_a_row));
        }
    }

    #[test]
    fn priority_and_unknown_frames_per_stream() {
        let mut budget = Budget::default();
        assert_eq!(accepted(&mut budget, head(PRIORITY, 0, 3, 5), 10_000), 100);
        let mut budget = Budget::default();
        open_streams(&mut budget, 5);
        assert_eq!(accepted(&mut budget, head(0xfa, 0, 0, 4), 10_000), 600);
    }

    #[test]
    fn window_updates_follow_the_data_sent() {
        let mut budget = Budget::default();
        let update = head(WINDOW_UPDATE, 0, 0, 4);
        assert_eq!(accepted(&mut budget, update, 10_000), 100);
        let mut budget = Budget::default();
        open_streams(&mut budget, 3);
        for _ in 0..50 {
            budget.sent(&head(DATA, 0, 1, 16_384));
        }
        budget.sent(&head(HEADERS, 0, 1, 30));
        assert_eq!(accepted(&mut budget, update, 10_000), 100 + 2 * 3 + 10 * 50);
    }

    #[test]
    fn a_download_asking_for_more_after_each_data_frame_is_fine() {
        let mut budget = Budget::default();
        open_streams(&mut budget, 1);
        for _ in 0..100_000 {
            budget.sent(&head(DATA, 0, 1, 16_384));
            // The stream's window and the connection's.
            budget.received(&head(WINDOW_UPDATE, 0, 1, 4), &LIMITS).unwrap();
            budget.received(&head(WINDOW_UPDATE, 0, 0, 4), &LIMITS).unwrap();
        }
    }

    #[test]
    fn resets_a_few_per_stream() {
        let mut budget = Budget::default();
        // Rapid reset: each stream opened then reset, as often as the peer likes (h2 bounds it).
        for i in 0..10_000 {
            budget
                .received(&head(HEADERS, 0x4 | END_STREAM, 2 * i + 1, 20), &LIMITS)
                .unwrap();
            budget.received(&head(RST_STREAM, 0, 2 * i + 1, 4), &LIMITS).unwrap();
        }
        // Resets of a closed stream over and over.
        assert_eq!(
            accepted(&mut budget, head(RST_STREAM, 0, 1, 4), 100_000),
            100 + 3 * 10_000
        );
        let mut budget = Budget::default();
        assert_eq!(accepted(&mut budget, head(RST_STREAM, 0, 1, 4), 10_000), 100);
    }

    #[test]
    fn answered_frames_are_left_to_h2() {
        let mut budget = Budget::default();
        assert_eq!(accepted(&mut budget, head(PING, 0, 0, 8), 100_000), 100_000);
        assert_eq!(accepted(&mut budget, head(SETTINGS, 0, 0, 6), 100_000), 100_000);
    }

    #[test]
    fn the_last_stream_is_the_highest_the_peer_opened() {
        let mut budget = Budget::default();
        open_streams(&mut budget, 3);
        budget.received(&head(HEADERS, 0x4, 5, 10), &LIMITS).unwrap(); // trailers of stream 5
        budget.received(&head(PRIORITY, 0, 101, 5), &LIMITS).unwrap();
        assert_eq!(budget.last_stream(), 5);
    }
}
