"""What an application failure means, decided once for every interface.

An application that raises is answered by its protocol object (a 500 when nothing was sent,
else its started response is cut). What gets *logged* depends on why it raised, the same way for
ASGI, RSGI and WSGI:

- the engine refused the request body (malformed, larger than `--max-body-size`, stalled longer
  than `--body-read-timeout`) and answered for the app (400, 413, 408) or cut its response: the
  app's failure to read it is the client's doing (a debug line);
- the client went away and the exception comes from that (an `OSError` such as
  `ClientDisconnected`, or RSGI's `ProtocolClosed`, in its cause/context chain; frameworks often
  wrap it): nothing to fix in the app (a debug line);
- anything else: an error line with the traceback, `Application callable raised an exception`
  (plus a hint when the app looks written for another interface).
"""

from __future__ import annotations

import logging

from ._granian import RSGIProtocolClosed

RAISED = 'Application callable raised an exception'
#: Followed by the engine's reason, e.g. `the request body was malformed`.
REFUSED = 'Application stopped: {}'
DISCONNECTED = 'Application stopped: the client disconnected'

#: How deep the cause/context chain is searched for the disconnect.
_CHAIN_DEPTH = 8


def caused_by_disconnect(exc: BaseException) -> bool:
    """Whether `exc` is, or was raised while handling, the error a send or read raises once the
    client left."""
    current: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if current is None:
            return False
        if isinstance(current, (OSError, RSGIProtocolClosed)):
            return True
        current = current.__cause__ or current.__context__
    return False


class FailureReporter:
    """Logs application failures on `logger`; `hint` is appended to the error lines."""

    __slots__ = ('_hint', '_logger', '_raised')

    def __init__(self, logger: logging.Logger, hint: str | None = None) -> None:
        self._logger = logger
        self._hint = hint
        self._raised = self._hinted(RAISED)

    def _hinted(self, line: str) -> str:
        return f'{line} ({self._hint})' if self._hint else line

    def __call__(self, exc: BaseException, refused: str | None, disconnected: bool) -> None:
        """The app raised `exc`; `refused`: why the engine refused the request body, if it did;
        `disconnected`: the client is gone."""
        if refused:
            self._logger.debug(REFUSED.format(refused), exc_info=exc)
        elif disconnected and caused_by_disconnect(exc):
            self._logger.debug(DISCONNECTED, exc_info=exc)
        else:
            self._logger.error(self._raised, exc_info=exc)

    def unfinished(self, problem: str) -> None:
        """The app returned without raising but left its response unfinished (`problem`)."""
        self._logger.error(self._hinted(problem))
