//! The PEP 3333 response rules that need no Python: when `start_response` may be called, and
//! how much of a chunk a declared `Content-Length` still lets through. Table-tested here; the
//! `start_response` object (`response.rs`) applies them.

/// What a `start_response(status, headers, exc_info)` call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StartCall {
    /// Set (or, with `exc_info` before anything was sent, replace) the status and headers.
    Set,
    /// `exc_info` after the head went out: too late to change it, the error is re-raised.
    ReRaise,
    /// A second call without `exc_info`: a protocol error.
    AlreadyCalled,
}

/// PEP 3333: "it is a fatal error to call start_response without the exc_info argument if
/// start_response has already been called within the current invocation"; with `exc_info`,
/// the headers may be replaced only while none have been sent, otherwise the error is raised
/// again.
pub(super) fn start_call(head_set: bool, head_sent: bool, exc_info: bool) -> StartCall {
    match (exc_info, head_set, head_sent) {
        (true, _, true) => StartCall::ReRaise,
        (true, _, false) | (false, false, false) => StartCall::Set,
        (false, _, _) => StartCall::AlreadyCalled,
    }
}

/// How much of an `n`-byte chunk may be sent when `remaining` bytes of a declared
/// `Content-Length` are left (`None`: no length declared), and whether the body is complete
/// afterwards. PEP 3333: a server "should not transmit more bytes than the Content-Length".
pub(super) fn within_length(remaining: Option<u64>, n: usize) -> (usize, Option<u64>, bool) {
    match remaining {
        None => (n, None, false),
        Some(r) => {
            let take = (n as u64).min(r);
            (take as usize, Some(r - take), r == take)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_response_calls() {
        use StartCall::*;
        // (head set, head sent, exc_info) -> outcome
        let table = [
            ((false, false, false), Set),
            ((true, false, false), AlreadyCalled),
            ((true, true, false), AlreadyCalled),
            ((false, false, true), Set),
            ((true, false, true), Set),
            ((true, true, true), ReRaise),
        ];
        for ((set, sent, exc), want) in table {
            assert_eq!(start_call(set, sent, exc), want, "set={set} sent={sent} exc_info={exc}");
        }
    }

    #[test]
    fn declared_length_caps_the_body() {
        assert_eq!(within_length(None, 10), (10, None, false));
        assert_eq!(within_length(Some(20), 10), (10, Some(10), false));
        assert_eq!(within_length(Some(10), 10), (10, Some(0), true));
        assert_eq!(within_length(Some(4), 10), (4, Some(0), true));
        assert_eq!(within_length(Some(0), 10), (0, Some(0), true));
    }
}
