"""Metadata and value converters shared by `config.py`, `http.py` and `cli.py`.

Each setting is declared once, as a dataclass field whose metadata holds an `Opt`: the CLI
flag, the value kind, its limits and the help text. `config.py` validates keyword values with
`convert()`; `cli.py` builds its click options from the same `Opt`s.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from granian.constants import StrEnum
from granian.errors import ConfigurationError

#: Value kinds understood by `convert()` (and mapped to click types by the CLI).
KINDS = frozenset(
    {'str', 'int', 'float', 'bool', 'duration', 'choice', 'octal', 'file', 'dir', 'exists', 'path', 'dict', 'object'}
)

_TRUE = frozenset({'1', 'true', 't', 'yes', 'y', 'on'})
_FALSE = frozenset({'0', 'false', 'f', 'no', 'n', 'off'})
_DURATION = re.compile(r'(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?')


@dataclass(frozen=True)
class Opt:
    """How one setting is spelled on the command line and which values it takes."""

    #: Long CLI flag (`'--host'`); booleans get a `--no-` twin. None: Python API only.
    flag: str | None
    #: One-line help text.
    help: str
    #: Value kind, one of `KINDS`.
    kind: str = 'str'
    #: Inclusive bounds for numbers and durations.
    min: float | None = None
    max: float | None = None
    #: The enum of allowed values for `kind='choice'`.
    choices: type[StrEnum] | None = None
    #: Repeatable: the value is a tuple of items of `kind`.
    multi: bool = False
    #: Env var name when it is not derived from the flag.
    env: str | None = None
    #: Further env var names read when `envvar` is not set (other spellings of 1.x names).
    env_aliases: tuple[str, ...] = ()
    #: What `--help` shows as the default when the field default (None) means "computed".
    default_text: str | None = None
    #: Other spellings of the flag, accepted on the command line (not listed by `--help`'s
    #: env var, which follows `flag`).
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f'unknown option kind {self.kind!r}')

    @property
    def envvar(self) -> str | None:
        """The `GRANIAN_*` environment variable read by the CLI for this option."""
        if self.flag is None:
            return None
        return self.env or 'GRANIAN_' + self.flag.lstrip('-').replace('-', '_').upper()

    @property
    def envvars(self) -> tuple[str, ...]:
        """Every env var read for this option, first one set wins: `envvar`, then `env_aliases`."""
        if self.envvar is None:
            return ()
        return (self.envvar, *self.env_aliases)


def setting(default: Any, flag: str | None, help: str, **kwargs: Any) -> Any:  # noqa: A002
    """A dataclass field with `default` and an `Opt` in its metadata."""
    return dataclasses.field(default=default, metadata={'opt': Opt(flag, help, **kwargs)})


def opt_of(field: dataclasses.Field) -> Opt:
    """The `Opt` declared on a dataclass field."""
    return field.metadata['opt']


def invalid(detail: str, option: str) -> ConfigurationError:
    """A ConfigurationError for a bad value, phrased like click's own messages."""
    return ConfigurationError(f"Invalid value for '{{option}}': {detail}", option)


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f'{lo}<=x<={hi}'
    if lo is not None:
        return f'x>={lo}'
    return f'x<={hi}'


def parse_duration(value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """Seconds from an int or a string like `90`, `2m`, `1h30m`, `1d2h3m4s`.

    Raises ValueError with the message to show (the spec's texts) on a bad or out-of-range value.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"'{value}' is not a valid duration")
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip()
        if re.fullmatch(r'[+-]?\d+', text):
            seconds = int(text)
        else:
            match = _DURATION.fullmatch(text)
            if not text or match is None:
                raise ValueError(f"'{value}' is not a valid duration")
            days, hours, minutes, secs = (int(part or 0) for part in match.groups())
            seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if hi is not None and seconds > hi:
        raise ValueError(f"'{value}' is greater than the maximum allowed value of {hi} seconds")
    if lo is not None and seconds < lo:
        raise ValueError(f"'{value}' is less than the minimum allowed value of {lo} seconds")
    return seconds


def parse_octal(value: Any) -> int:
    """File mode from an int or a string: a leading `0` means base 8 (`'0660'`), else base 10.

    `0o660` and `0x1b0` prefixes are understood too. Raises ValueError on anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a valid integer")
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    try:
        if text[:2] in ('0o', '0x', '0b'):
            return int(text, 0)
        if len(text) > 1 and text.startswith('0'):
            return int(text, 8)
        return int(text, 10)
    except ValueError:
        raise ValueError(f"'{value}' is not a valid octal integer") from None


def parse_bool(value: Any) -> bool:
    """A bool from a bool or one of click's boolean words (`yes`, `off`, ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
    raise ValueError(f"'{value}' is not a valid boolean.")


def _convert_item(opt: Opt, value: Any) -> Any:
    """One item converted per `opt.kind`; ValueError carries the detail text."""
    kind = opt.kind
    if kind in ('int', 'float'):
        label = 'integer' if kind == 'int' else 'float'
        if isinstance(value, bool) or (kind == 'int' and isinstance(value, float)):
            raise ValueError(f"'{value}' is not a valid {label}.")
        try:
            number = int(value) if kind == 'int' else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"'{value}' is not a valid {label}.") from None
        if (opt.min is not None and number < opt.min) or (opt.max is not None and number > opt.max):
            raise ValueError(f'{number} is not in the range {_range_text(opt.min, opt.max)}.')
        return number
    if kind == 'duration':
        return parse_duration(value, opt.min, opt.max)
    if kind == 'bool':
        return parse_bool(value)
    if kind == 'choice':
        assert opt.choices is not None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        try:
            return opt.choices(value).value
        except ValueError:
            allowed = ', '.join(repr(v) for v in opt.choices.values())
            raise ValueError(f"'{value}' is not one of {allowed}.") from None
    if kind == 'octal':
        mode = parse_octal(value)
        if not 0 <= mode <= 0o777:
            raise ValueError(f"'{value}' is not a file mode between 0 and 0o777 (a leading 0 means octal: '0660').")
        return mode
    if kind in ('file', 'dir', 'exists', 'path'):
        if not isinstance(value, str | os.PathLike) or not os.fspath(value):
            raise ValueError(f"'{value}' is not a valid path")
        path = os.path.abspath(os.fspath(value))
        if kind != 'path' and not os.path.exists(path):
            raise ValueError(
                f"{'directory' if kind == 'dir' else kind.replace('exists', 'path')} '{value}' does not exist"
            )
        if kind == 'file' and not os.path.isfile(path):
            raise ValueError(f"'{value}' is a directory, not a file")
        if kind == 'dir' and not os.path.isdir(path):
            raise ValueError(f"'{value}' is a file, not a directory")
        return path
    if kind == 'str':
        if not isinstance(value, str):
            raise ValueError(f'expected a string, got {type(value).__name__} {value!r}')
        return value
    if kind == 'dict':
        if not isinstance(value, dict):
            raise ValueError(f'expected a dict, got {type(value).__name__}')
        return value
    return value  # 'object': taken as given


def convert(opt: Opt, option: str, value: Any, nullable: bool) -> Any:
    """`value` validated and normalised per `opt`, or a ConfigurationError naming `option`.

    None passes through when `nullable`; multi options give a tuple (a lone string or path
    is taken as a one-item list); paths become absolute `str`; choices their plain value.
    """
    if value is None and (nullable or opt.multi):
        return () if opt.multi else None
    try:
        if opt.multi:
            if isinstance(value, str | os.PathLike):
                value = [value]
            if not isinstance(value, Iterable) or isinstance(value, dict):
                raise ValueError(f'expected a list, got {type(value).__name__} {value!r}')
            return tuple(_convert_item(opt, item) for item in value)
        return _convert_item(opt, value)
    except ValueError as exc:
        raise invalid(str(exc), option) from None
