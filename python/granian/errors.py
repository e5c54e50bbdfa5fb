"""The exceptions granian raises into Python code.

Library code raises; only the CLI turns these into exit codes (2 for `ConfigurationError`,
1 for the others).
"""

from __future__ import annotations


class GranianError(Exception):
    """Base class of every error raised by granian."""


class ConfigurationError(GranianError):
    """A setting has a wrong value, or settings contradict each other.

    `option` is the keyword name of the setting at fault (`'runtime_threads'`, or
    `'http1_settings.max_buffer_size'` for a field of a settings object), or None when the
    error is not about one setting. The message is written with a `{option}` placeholder so
    that callers can name the setting the way their user spelled it: `str(err)` uses the
    keyword name, `err.render('--runtime-threads')` the CLI flag.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        self.option = option
        self.template = message
        super().__init__(self.render())

    def render(self, label: str | None = None) -> str:
        """The message with the setting named `label` (default: its keyword name)."""
        if self.option is None:
            return self.template
        return self.template.replace('{option}', label or self.option)


class StartupError(GranianError):
    """The application could not be loaded or started (import failure, bad target, ...).

    When the app's own code raised, the original exception is chained as `__cause__`.
    """


class FatalError(GranianError):
    """An unrecoverable error while serving; the process must exit with status 1."""


class PidFileError(StartupError):
    """The pid file names another running process, or cannot be read or written."""


#: The exceptions raised into application code by the compiled core (`granian._granian`),
#: re-exported here on first use so that importing `granian.errors` stays cheap (the supervisor
#: never loads the extension). `InterfaceError` (a `RuntimeError`) is the base of the interface
#: misuse errors: `ASGIProtocolError`, `RSGIProtocolError`, `WSGIProtocolError`.
_CORE_EXCEPTIONS = (
    'InterfaceError',
    'ASGIProtocolError',
    'RSGIProtocolError',
    'WSGIProtocolError',
    'RSGIProtocolClosed',
    'ClientDisconnected',
)


def __getattr__(name: str) -> type[BaseException]:
    if name in _CORE_EXCEPTIONS:
        from granian import _granian

        return getattr(_granian, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
