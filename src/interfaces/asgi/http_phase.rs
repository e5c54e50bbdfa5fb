//! The ASGI HTTP response contract as a plain state machine: which `send` message may come
//! when, and what each one does to the response. No Python and no I/O here: the protocol
//! object (`protocol.rs`) parses a message into an [`HttpSend`], applies the [`Action`] this
//! returns, and raises [`OrderError`] out of the `send` awaitable.
//!
//! The order (ASGI HTTP spec): `http.response.start`, then `http.response.body` until one says
//! `more_body: False` (or one `http.response.pathsend`); once the response is complete, "any
//! further messages on the channel will be ignored".
//!
//! Generic over what it carries: `H`, the response head the start message gave; `T`, the
//! sender of a streamed body (so the table tests below run on plain values).

/// A `send` message, as far as the order cares.
#[derive(Debug)]
pub(crate) enum HttpSend<H> {
    Start(H),
    Body { more: bool },
    PathSend,
}

/// Where the response is.
pub(crate) enum Phase<H, T> {
    /// Nothing sent yet.
    Init,
    /// `http.response.start` received; nothing handed to hyper yet (the first body message
    /// decides between a whole and a streamed body).
    Started(H),
    /// The head went out with a streamed body. `None` when the body is dropped (HEAD).
    Streaming(Option<T>),
    /// The response is complete.
    Done,
}

/// What the protocol object does with a message that was in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action<H, T> {
    /// The head is kept until the first body message.
    Hold,
    /// Respond with head `H` and this message's body as the whole body.
    Whole(H),
    /// Queue this message's body on the stream (`None`: dropped, as for HEAD); the stream ends
    /// once the returned sender is dropped when `last`.
    Chunk { tx: Option<T>, last: bool },
    /// Respond with head `H` and the file of the `pathsend` message.
    File(H),
    /// The response is complete already: the message is ignored.
    Ignore,
}

/// A message out of order: the error names what was expected instead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OrderError {
    pub(crate) expected: &'static str,
}

/// What the app left undone when its coroutine ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unfinished<T> {
    /// The response was complete.
    Nothing,
    /// No response at all: the engine answers 500.
    NoStart,
    /// A start without a body: the engine answers 500.
    NoBody,
    /// A streamed body that was never ended: it is aborted (`None`: it was being dropped).
    CutStream(Option<T>),
}

impl<T> Unfinished<T> {
    /// The log line for an app that returned (without raising) leaving this undone.
    pub(crate) fn complaint(&self) -> Option<&'static str> {
        match self {
            Self::Nothing => None,
            Self::NoStart => Some("ASGI callable returned without starting a response"),
            Self::NoBody => Some("ASGI callable returned without sending the response body"),
            Self::CutStream(_) => Some("ASGI callable returned without completing the response"),
        }
    }
}

impl<H, T: Clone> Phase<H, T> {
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }

    /// Applies one `send` message. `open` makes the stream for a first body message with
    /// `more_body` (given the head; `None` to drop the body). On an error nothing changes.
    pub(crate) fn on_send(
        &mut self,
        msg: HttpSend<H>,
        open: impl FnOnce(H) -> Option<T>,
    ) -> Result<Action<H, T>, OrderError> {
        match (std::mem::replace(self, Self::Done), msg) {
            (Self::Done, _) => Ok(Action::Ignore),
            (Self::Init, HttpSend::Start(head)) => {
                *self = Self::Started(head);
                Ok(Action::Hold)
            }
            (Self::Started(head), HttpSend::Body { more: false }) => Ok(Action::Whole(head)),
            (Self::Started(head), HttpSend::Body { more: true }) => {
                let tx = open(head);
                *self = Self::Streaming(tx.clone());
                Ok(Action::Chunk { tx, last: false })
            }
            (Self::Started(head), HttpSend::PathSend) => Ok(Action::File(head)),
            (Self::Streaming(tx), HttpSend::Body { more }) => {
                if more {
                    *self = Self::Streaming(tx.clone());
                }
                Ok(Action::Chunk { tx, last: !more })
            }
            (before, msg) => {
                let expected = match (&before, msg) {
                    (Self::Init, HttpSend::PathSend) => "'http.response.start' before it",
                    (Self::Init, _) => "'http.response.start'",
                    _ => "'http.response.body'",
                };
                *self = before;
                Err(OrderError { expected })
            }
        }
    }

    /// The app's coroutine ended: what it left undone. The phase is `Done` afterwards.
    pub(crate) fn on_finish(&mut self) -> Unfinished<T> {
        match std::mem::replace(self, Self::Done) {
            Self::Done => Unfinished::Nothing,
            Self::Init => Unfinished::NoStart,
            Self::Started(_) => Unfinished::NoBody,
            Self::Streaming(tx) => Unfinished::CutStream(tx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type P = Phase<&'static str, u8>;
    type Outcome = Result<Action<&'static str, u8>, OrderError>;

    fn start() -> HttpSend<&'static str> {
        HttpSend::Start("head")
    }

    fn body(more: bool) -> HttpSend<&'static str> {
        HttpSend::Body { more }
    }

    /// Runs `msgs` from `Init`, the stream opened as `7`; the action of each message.
    fn run(msgs: Vec<HttpSend<&'static str>>) -> (P, Vec<Outcome>) {
        let mut phase = P::Init;
        let actions = msgs.into_iter().map(|m| phase.on_send(m, |_| Some(7))).collect();
        (phase, actions)
    }

    fn err(expected: &'static str) -> Outcome {
        Err(OrderError { expected })
    }

    #[test]
    fn whole_response() {
        let (phase, acts) = run(vec![start(), body(false)]);
        assert_eq!(acts, vec![Ok(Action::Hold), Ok(Action::Whole("head"))]);
        assert!(phase.is_done());
    }

    #[test]
    fn streamed_response() {
        let (phase, acts) = run(vec![start(), body(true), body(true), body(false)]);
        assert_eq!(
            acts,
            vec![
                Ok(Action::Hold),
                Ok(Action::Chunk {
                    tx: Some(7),
                    last: false
                }),
                Ok(Action::Chunk {
                    tx: Some(7),
                    last: false
                }),
                Ok(Action::Chunk {
                    tx: Some(7),
                    last: true
                }),
            ]
        );
        assert!(phase.is_done());
    }

    #[test]
    fn a_dropped_stream_still_follows_the_order() {
        let mut phase = P::Init;
        phase.on_send(start(), |_| None).unwrap();
        assert_eq!(
            phase.on_send(body(true), |_| None),
            Ok(Action::Chunk { tx: None, last: false })
        );
        assert_eq!(
            phase.on_send(body(false), |_| unreachable!()),
            Ok(Action::Chunk { tx: None, last: true })
        );
        assert!(phase.is_done());
    }

    #[test]
    fn the_stream_is_opened_once_with_the_head() {
        let mut phase = P::Init;
        phase.on_send(HttpSend::Start("the head"), |_| unreachable!()).unwrap();
        let mut seen = None;
        phase
            .on_send(body(true), |h| {
                seen = Some(h);
                Some(1)
            })
            .unwrap();
        assert_eq!(seen, Some("the head"));
        phase.on_send(body(true), |_| unreachable!()).unwrap();
    }

    #[test]
    fn pathsend_after_start() {
        let (phase, acts) = run(vec![start(), HttpSend::PathSend]);
        assert_eq!(acts, vec![Ok(Action::Hold), Ok(Action::File("head"))]);
        assert!(phase.is_done());
    }

    #[test]
    fn messages_after_completion_are_ignored() {
        for tail in [start(), body(false), body(true), HttpSend::PathSend] {
            let (_, acts) = run(vec![start(), body(false), tail]);
            assert_eq!(acts[2], Ok(Action::Ignore));
        }
        let (_, acts) = run(vec![start(), HttpSend::PathSend, body(false)]);
        assert_eq!(acts[2], Ok(Action::Ignore));
    }

    #[test]
    fn misuse_is_refused_and_changes_nothing() {
        let cases: Vec<(Vec<HttpSend<&'static str>>, &'static str)> = vec![
            (vec![body(false)], "'http.response.start'"),
            (vec![body(true)], "'http.response.start'"),
            (vec![HttpSend::PathSend], "'http.response.start' before it"),
            (vec![start(), start()], "'http.response.body'"),
            (vec![start(), body(true), start()], "'http.response.body'"),
            (vec![start(), body(true), HttpSend::PathSend], "'http.response.body'"),
        ];
        for (msgs, expected) in cases {
            let n = msgs.len();
            let (mut phase, acts) = run(msgs);
            assert_eq!(acts[n - 1], err(expected));
            // The refused message left the phase as it was: the right message still works.
            let next = match phase {
                P::Init => start(),
                _ => body(false),
            };
            assert!(phase.on_send(next, |_| Some(7)).is_ok());
        }
    }

    #[test]
    fn finishing_reports_what_was_left_undone() {
        let finish = |msgs| {
            let (mut phase, _) = run(msgs);
            let left = phase.on_finish();
            assert!(phase.is_done());
            left
        };
        assert_eq!(finish(vec![]), Unfinished::NoStart);
        assert_eq!(finish(vec![start()]), Unfinished::NoBody);
        assert_eq!(finish(vec![start(), body(true)]), Unfinished::CutStream(Some(7)));
        assert_eq!(finish(vec![start(), body(false)]), Unfinished::Nothing);
        assert_eq!(finish(vec![start(), HttpSend::PathSend]), Unfinished::Nothing);
        assert_eq!(
            Unfinished::<u8>::NoStart.complaint(),
            Some("ASGI callable returned without starting a response")
        );
        assert_eq!(Unfinished::<u8>::Nothing.complaint(), None);
    }
}
