//! The RSGI WebSocket contract (`../shared/spec/RSGI.md`) as a plain state machine: `accept()`
//! once, `close()` refusing the handshake (default 403) or closing the connection (1000), only
//! its first call counting, and the app's end settling what is left open. No Python and no
//! I/O: `ws.rs` applies the outcomes.

/// Where the WebSocket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RsgiWsPhase {
    /// Waiting for `accept()` or `close()`.
    Handshake,
    Accepted,
    /// `close()` was called or the app finished: nothing more is sent.
    Closed,
}

/// What to do to the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Answer the handshake with this HTTP status, without a body.
    Refuse(u16),
    /// Close the open connection with this code.
    Close(u16),
    Nothing,
}

/// An `accept()` the contract does not allow.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptError {
    Closed,
    AlreadyAccepted,
}

impl RsgiWsPhase {
    pub(crate) fn on_accept(&mut self) -> Result<(), AcceptError> {
        match self {
            Self::Handshake => {
                *self = Self::Accepted;
                Ok(())
            }
            Self::Accepted => Err(AcceptError::AlreadyAccepted),
            Self::Closed => Err(AcceptError::Closed),
        }
    }

    /// `close(status)`: only the first call (or a call before the app finished) counts.
    pub(crate) fn on_close(&mut self, status: Option<u16>) -> Settle {
        self.settle(Settle::Refuse(status.unwrap_or(403)), Settle::Close(1000))
    }

    /// The app returned (or raised, `failed`).
    pub(crate) fn on_finish(&mut self, failed: bool) -> Settle {
        if failed {
            self.settle(Settle::Refuse(500), Settle::Close(1011))
        } else {
            self.settle(Settle::Refuse(403), Settle::Close(1000))
        }
    }

    /// Whether the app may still send on the connection.
    pub(crate) fn can_send(self) -> bool {
        self != Self::Closed
    }

    fn settle(&mut self, handshake: Settle, open: Settle) -> Settle {
        let was = std::mem::replace(self, Self::Closed);
        match was {
            Self::Handshake => handshake,
            Self::Accepted => open,
            Self::Closed => Settle::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_once() {
        let mut p = RsgiWsPhase::Handshake;
        assert_eq!(p.on_accept(), Ok(()));
        assert!(p.can_send());
        assert_eq!(p.on_accept(), Err(AcceptError::AlreadyAccepted));
    }

    #[test]
    fn close_before_accept_refuses_with_the_status() {
        let mut p = RsgiWsPhase::Handshake;
        assert_eq!(p.on_close(None), Settle::Refuse(403));
        assert_eq!(p.on_accept(), Err(AcceptError::Closed));
        let mut p = RsgiWsPhase::Handshake;
        assert_eq!(p.on_close(Some(401)), Settle::Refuse(401));
    }

    #[test]
    fn close_after_accept_closes_normally_and_only_once() {
        let mut p = RsgiWsPhase::Handshake;
        p.on_accept().unwrap();
        assert_eq!(p.on_close(Some(401)), Settle::Close(1000));
        assert!(!p.can_send());
        assert_eq!(p.on_close(None), Settle::Nothing);
        assert_eq!(p.on_finish(true), Settle::Nothing);
    }

    #[test]
    fn finishing_settles_what_is_open() {
        let table = [
            (false, false, Settle::Refuse(403)),
            (false, true, Settle::Refuse(500)),
            (true, false, Settle::Close(1000)),
            (true, true, Settle::Close(1011)),
        ];
        for (accepted, failed, want) in table {
            let mut p = RsgiWsPhase::Handshake;
            if accepted {
                p.on_accept().unwrap();
            }
            assert_eq!(p.on_finish(failed), want, "accepted={accepted} failed={failed}");
            assert_eq!(p, RsgiWsPhase::Closed);
        }
    }
}
