"""Granian 1.x names and values still accepted by `build_config` (and the CLI): each is mapped to
its 2.x form and noted, so one deprecation warning can say what to change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from granian._options import Opt, convert
from granian.constants import ThreadModes
from granian.errors import ConfigurationError

#: Interfaces whose application runs on the event loop (1.x allowed them blocking threads).
ASYNC_INTERFACES = ('asgi', 'asginl', 'rsgi')

#: 1.x keywords still accepted: keyword -> how the CLI spells it. `build_config` maps them
#: (see `_apply_aliases`) and logs one warning.
ALIAS_OPTIONS: dict[str, Opt] = {
    'threads': Opt('--threads', '1.x name of --runtime-threads.', kind='int', min=1),
    'threading_mode': Opt(
        '--threading-mode', '1.x option: workers = --runtime-mode st, runtime = mt.', kind='choice', choices=ThreadModes
    ),
    'loop_opt': Opt(
        '--opt',
        '1.x option (removed in 1.7), ignored.',
        kind='bool',
        env='GRANIAN_LOOP_OPT',
        env_aliases=('GRANIAN_OPT',),
    ),
}
_ALIAS_TARGETS = {'threads': 'runtime_threads', 'threading_mode': 'runtime_mode'}
_THREAD_MODES = {'workers': 'st', 'runtime': 'mt'}
#: Choice values from 1.x accepted on top of the enum: keyword -> {old value: new value}.
LEGACY_VALUES: dict[str, dict[str, str]] = {'task_impl': {'auto': 'asyncio'}}


def apply_aliases(kwargs: dict[str, Any], flag: Callable[[str], str]) -> list[str]:
    """Map 1.x keywords/values in `kwargs` to 2.x ones, in place; returns what was mapped.

    `flag(name)` spells an option for the notes (`'threads' (--threads)`).
    """
    notes = []
    for old in ALIAS_OPTIONS:
        if old not in kwargs:
            continue
        value = kwargs.pop(old)
        if value is None:
            continue
        new = _ALIAS_TARGETS.get(old)
        if new is None:
            notes.append(f'{flag(old)} was removed in 1.7 and is ignored')
            continue
        if kwargs.get(new) is not None:
            raise ConfigurationError(f'{{option}} is the 1.x name of {flag(new)}: give only one of them', old)
        value = convert(ALIAS_OPTIONS[old], old, value, nullable=False)
        kwargs[new] = _THREAD_MODES[value] if old == 'threading_mode' else value
        notes.append(f'{flag(old)} is a 1.x name, use {flag(new)}')
    for name, mapping in LEGACY_VALUES.items():
        value = kwargs.get(name)
        if isinstance(value, str) and value.lower() in mapping:
            kwargs[name] = mapping[value.lower()]
            notes.append(f"{flag(name)} value '{value}' is from 1.x, using '{kwargs[name]}'")
    return notes


def legacy_blocking_threads(values: dict[str, Any], flag: Callable[[str], str]) -> str | None:
    """More than 1 blocking thread with ASGI/RSGI, as Granian 1.x allowed: 1 is used.

    In 1.x these extra threads only handed requests over to the worker's event loop; the app
    itself always ran on the loop thread. Here the loop thread picks up requests itself, so
    there is nothing for them to do. Returns the deprecation note, or None.
    """
    threads = values['blocking_threads']
    if threads is None or threads <= 1 or values['interface'] not in ASYNC_INTERFACES:
        return None
    values['blocking_threads'] = 1
    return (
        f'{flag("blocking_threads")} {threads} with the {values["interface"]} interface is from 1.x, where the '
        'extra threads only handed requests to the event loop; the application runs on the event loop thread '
        'of each worker, so 1 is used'
    )
