"""Which interface an application object plainly belongs to, judged from its signature.

Nothing is called: the decision reads the callable's parameters and whether it is a coroutine
function. Only unmistakable shapes get an answer; anything else (`*args`, `**kwargs`,
optional positional parameters, classes, objects serving several interfaces) is `None`, so
a warning built on this is never wrong about an app that might work.

| shape                                   | interface |
|-----------------------------------------|-----------|
| `async (scope, receive, send)`          | ASGI      |
| `async (scope, protocol)`, `__rsgi__`   | RSGI      |
| `def (environ, start_response)`         | WSGI      |
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from granian.constants import Interfaces

__all__ = ['guess_interface', 'mismatch', 'mismatch_hint', 'mismatch_warning']

_KINDS = {
    (True, 3): Interfaces.ASGI,
    (True, 2): Interfaces.RSGI,
    (False, 2): Interfaces.WSGI,
}
_LABELS = {Interfaces.ASGI: 'an ASGI', Interfaces.RSGI: 'an RSGI', Interfaces.WSGI: 'a WSGI'}


def _is_coroutine_callable(obj: Any) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    if inspect.isroutine(obj) or inspect.isclass(obj):
        return False
    return inspect.iscoroutinefunction(getattr(obj, '__call__', None))  # noqa: B004


def _positional_count(obj: Any) -> int | None:
    """How many positional arguments `obj` takes, when that number is fixed; else None."""
    try:
        # The callable's own parameters: a sync wrapper made with functools.wraps must not
        # pass for the async function it wraps.
        signature = inspect.signature(obj, follow_wrapped=False)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None
        if param.kind == param.KEYWORD_ONLY:
            if param.default is param.empty:
                return None
            continue
        if param.default is not param.empty:
            return None  # optional positional parameters: several shapes fit
        count += 1
    return count


def _wraps_coroutine(obj: Any) -> bool:
    """A sync decorator around a coroutine function (`functools.wraps`): it likely returns the
    coroutine, so being sync says nothing."""
    wrapped = getattr(obj, '__wrapped__', None)
    return wrapped is not None and _is_coroutine_callable(wrapped)


def _shape(obj: Any) -> Interfaces | None:
    if not callable(obj):
        return None
    count = _positional_count(obj)
    if count is None:
        return None
    is_async = _is_coroutine_callable(obj)
    if not is_async and _wraps_coroutine(obj):
        return None
    return _KINDS.get((is_async, count))


def guess_interface(obj: Any) -> Interfaces | None:
    """The interface `obj` is plainly written for (ASGI, RSGI or WSGI), or None when unsure.

    Never raises: an object whose attributes cannot be read (a lazy proxy...) is None.
    """
    try:
        return _guess(obj)
    except Exception:
        return None


def _guess(obj: Any) -> Interfaces | None:
    base = obj
    while isinstance(base, functools.partial):
        base = base.func
    if inspect.isclass(base):
        return None  # calling it builds an instance: not a request handler we can judge
    if getattr(obj, '__rsgi__', None) is not None:
        # An object serving RSGI through `__rsgi__` may serve another interface by its
        # `__call__`; only a plain RSGI object gets an answer.
        called = _shape(obj) if callable(obj) else None
        handler = _shape(obj.__rsgi__)
        if handler not in (None, Interfaces.RSGI) or called not in (None, Interfaces.RSGI):
            return None
        if called is None and callable(obj):
            return None
        return Interfaces.RSGI
    return _shape(obj)


def mismatch(obj: Any, interface: str) -> Interfaces | None:
    """The interface to use instead of `interface` when `obj` plainly belongs to another one."""
    guessed = guess_interface(obj)
    if guessed is None:
        return None
    configured = Interfaces(interface)
    if configured == Interfaces.ASGINL:
        configured = Interfaces.ASGI
    return None if guessed == configured else guessed


def mismatch_hint(obj: Any, interface: str) -> str | None:
    """`the app looks like an ASGI application: run with --interface asgi`, or None."""
    wanted = mismatch(obj, interface)
    if wanted is None:
        return None
    return f'the app looks like {_LABELS[wanted]} application: run with --interface {wanted.value}'


def mismatch_warning(obj: Any, interface: str, target: str) -> str | None:
    """The startup warning for `target` served with `--interface interface`, or None."""
    wanted = mismatch(obj, interface)
    if wanted is None:
        return None
    return (
        f"app '{target}' looks like {_LABELS[wanted]} application but --interface is {Interfaces(interface).value}: "
        f'run with --interface {wanted.value}'
    )
