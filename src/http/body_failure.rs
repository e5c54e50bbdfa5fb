//! When a request body cannot be read to its end for a reason that is the client's doing, and
//! what the engine does about it: decided here once, for every interface and both HTTP versions.
//!
//! A body fails when its framing is malformed (hyper's decoder rejects it), when it grows past
//! `--max-body-size`, or when it stalls longer than `--body-read-timeout` while somebody waits
//! for it. The engine then answers for the app (400, 413, 408) if the app has not started its
//! response, and otherwise cuts the response (the HTTP/1 connection is closed, the HTTP/2 stream
//! reset). Either way the app sees what it sees when a client leaves. Nothing here touches a
//! socket: `body.rs` detects the failures, `handler.rs` applies these decisions.

use std::time::Duration;

use http::header::{HeaderValue, CONNECTION};
use http::{Response, StatusCode};

use super::body::ResponseBody;
use super::response::status_only;

/// Why a request body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// Broken framing (a bad chunk size line, ...).
    Malformed,
    /// More bytes than `--max-body-size`, declared by `Content-Length` or counted as they came.
    TooLarge,
    /// No bytes for `--body-read-timeout` while the app (or the read-ahead) waited for them.
    Stalled,
}

impl BodyFailure {
    /// The status the engine answers with when the app has not started its response.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Stalled => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// What went wrong, for logs and for the app's read error.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Malformed => "the request body was malformed",
            Self::TooLarge => "the request body is larger than --max-body-size",
            Self::Stalled => "the request body stalled for longer than --body-read-timeout",
        }
    }

    /// The body of the engine's answer.
    fn text(self) -> &'static [u8] {
        match self {
            Self::Malformed => b"Bad Request: malformed request body",
            Self::TooLarge => b"Content Too Large: the request body exceeds the server's limit",
            Self::Stalled => b"Request Timeout: the request body stopped arriving",
        }
    }

    /// A compact code for an atomic (see `Disconnect`); 0 is "none".
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Malformed => 1,
            Self::TooLarge => 2,
            Self::Stalled => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Malformed),
            2 => Some(Self::TooLarge),
            3 => Some(Self::Stalled),
            _ => None,
        }
    }
}

/// The limits a request body is read under (`--max-body-size`, `--body-read-timeout`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BodyLimits {
    /// Most bytes accepted; `None`: no cap.
    pub(crate) max_size: Option<u64>,
    /// Longest wait for the next bytes; `None`: no limit.
    pub(crate) read_timeout: Option<Duration>,
}

impl BodyLimits {
    /// Whether `received` bytes are over the cap.
    pub(crate) fn exceeded(&self, received: u64) -> bool {
        self.max_size.is_some_and(|max| received > max)
    }

    /// The refusal of a body declared (`Content-Length`) as `declared` bytes, before any is read.
    pub(crate) fn check_declared(&self, declared: Option<u64>) -> Option<BodyFailure> {
        declared.filter(|&n| self.exceeded(n)).map(|_| BodyFailure::TooLarge)
    }
}

/// What becomes of a request whose body failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Nothing was answered yet: the engine answers `status` (on HTTP/1 with
    /// `connection: close`, since the rest of the body will not be read).
    Answer { status: StatusCode, close: bool },
    /// The app's response has started: it is cut (the HTTP/1 connection closed, the HTTP/2
    /// stream reset), so that it never passes for a complete one.
    Cut,
}

/// What becomes of a request whose body failed, given its HTTP version and whether the app's
/// response has started.
pub(crate) fn settle(failure: BodyFailure, h2: bool, response_started: bool) -> Settle {
    if response_started {
        Settle::Cut
    } else {
        Settle::Answer {
            status: failure.status(),
            close: !h2,
        }
    }
}

/// Whether what is left of a refused upload is read and dropped for a moment ([`LINGER`])
/// before the HTTP/1 connection closes. Closing a socket with unread bytes makes the kernel
/// send a reset, which can destroy the answer before the client reads it; a client still
/// sending (a body over the cap, whose sender keeps going) needs that moment. A malformed body
/// cannot be read further, a stalled one has nothing to read, a client that waits for
/// `100 Continue` sends nothing, and HTTP/2 refuses the rest of a stream by itself
/// (`RST_STREAM(NO_ERROR)` after the answer).
pub(crate) fn lingers(failure: BodyFailure, h2: bool, awaits_continue: bool) -> bool {
    failure == BodyFailure::TooLarge && !h2 && !awaits_continue
}

/// How long a refused HTTP/1 upload is still read and dropped (see [`lingers`]).
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// The engine's answer for a failed body (see [`settle`]).
pub(crate) fn answer(failure: BodyFailure, h2: bool) -> Response<ResponseBody> {
    let mut resp = status_only(failure.status(), failure.text());
    if let Settle::Answer { close: true, .. } = settle(failure, h2, false) {
        resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if failure == BodyFailure::TooLarge {
        // RFC 9110's name for 413 (the `http` crate still says "Payload Too Large"); HTTP/1 only.
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(b"Content Too Large"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [BodyFailure; 3] = [BodyFailure::Malformed, BodyFailure::TooLarge, BodyFailure::Stalled];

    #[test]
    fn each_failure_has_its_status() {
        let statuses: Vec<u16> = ALL.iter().map(|f| f.status().as_u16()).collect();
        assert_eq!(statuses, [400, 413, 408]);
        for f in ALL {
            assert_eq!(BodyFailure::from_code(f.code()), Some(f));
        }
        assert_eq!(BodyFailure::from_code(0), None);
    }

    #[test]
    fn before_the_response_the_engine_answers_after_it_cuts() {
        for f in ALL {
            assert_eq!(
                settle(f, false, false),
                Settle::Answer {
                    status: f.status(),
                    close: true
                },
                "HTTP/1 closes: the rest of the body is not read"
            );
            assert_eq!(
                settle(f, true, false),
                Settle::Answer {
                    status: f.status(),
                    close: false
                },
                "HTTP/2 answers on the stream, the connection stays"
            );
            assert_eq!(settle(f, false, true), Settle::Cut);
            assert_eq!(settle(f, true, true), Settle::Cut);
        }
    }

    #[test]
    fn the_answer_says_close_on_http1_only() {
        let h1 = answer(BodyFailure::TooLarge, false);
        assert_eq!(h1.status(), 413);
        assert_eq!(h1.headers()[CONNECTION], "close");
        let reason = h1.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
        assert_eq!(reason.as_bytes(), b"Content Too Large");
        let h2 = answer(BodyFailure::Stalled, true);
        assert_eq!(h2.status(), 408);
        assert!(!h2.headers().contains_key(CONNECTION));
    }

    #[test]
    fn only_a_refused_http1_upload_still_being_sent_lingers() {
        assert!(lingers(BodyFailure::TooLarge, false, false));
        assert!(!lingers(BodyFailure::TooLarge, false, true), "waits for 100 Continue");
        assert!(!lingers(BodyFailure::TooLarge, true, false), "HTTP/2 resets the stream");
        assert!(!lingers(BodyFailure::Malformed, false, false), "cannot be read further");
        assert!(!lingers(BodyFailure::Stalled, false, false), "nothing is coming");
    }

    #[test]
    fn limits() {
        let none = BodyLimits::default();
        assert!(!none.exceeded(u64::MAX));
        assert_eq!(none.check_declared(Some(u64::MAX)), None);
        let capped = BodyLimits {
            max_size: Some(1000),
            read_timeout: None,
        };
        assert!(!capped.exceeded(1000));
        assert!(capped.exceeded(1001));
        assert_eq!(capped.check_declared(Some(1000)), None);
        assert_eq!(capped.check_declared(Some(1001)), Some(BodyFailure::TooLarge));
        assert_eq!(capped.check_declared(None), None, "chunked: counted as it comes");
    }
}
