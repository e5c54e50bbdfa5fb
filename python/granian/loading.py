"""Finding the application: `module:attr` targets, factories, dotenv files, RSGI hooks.

Every failure is a `StartupError` with a one-line message that names the module or attribute
and the expected `<module>:<attribute>` form. When the application's own code raised while
being imported or built, that exception is chained (`__cause__`) so its traceback can be shown;
that traceback is trimmed to the application's frames (no importlib or granian frames).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from granian.errors import StartupError

#: Attribute used when a target has no `:attr` part.
DEFAULT_ATTRIBUTE = 'app'

_EXPECTED = "expected '<module>:<attribute>', e.g. 'main:app'"
# A colon separates module and attribute unless it is a Windows drive (`C:\`, `C:/`).
_SEPARATOR = re.compile(r':(?![\\/])')
_DOTTED = re.compile(r'[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*')


def split_target(target: str) -> tuple[str, str]:
    """`(module, attribute)` from a target string; the attribute defaults to `app`.

    The module part may be a dotted module name or a file path (`src/main.py`).
    """
    if not isinstance(target, str):
        raise StartupError(f'invalid application target {target!r}: {_EXPECTED}')
    separators = list(_SEPARATOR.finditer(target))
    if separators:
        cut = separators[-1].start()
        module, attribute = target[:cut], target[cut + 1 :]
    else:
        module, attribute = target, DEFAULT_ATTRIBUTE
    if not module or not _DOTTED.fullmatch(attribute):
        raise StartupError(f"invalid application target '{target}': {_EXPECTED}")
    return module, attribute


def _is_path(module: str) -> bool:
    return module.endswith('.py') or '/' in module or os.sep in module


def _prepend_sys_path(directory: str) -> None:
    if not sys.path or sys.path[0] != directory:
        sys.path.insert(0, directory)


def _module_from_path(module: str, working_dir: str | None) -> str:
    """Dotted module name for a file path; puts its first non-package ancestor on `sys.path`."""
    candidates = [module]
    if working_dir and not os.path.isabs(module):
        candidates.append(os.path.join(working_dir, module))
    for candidate in candidates:
        path = os.path.abspath(candidate)
        if os.path.isfile(path) or os.path.isfile(path + '.py'):
            break
        if os.path.isfile(os.path.join(path, '__init__.py')):
            break
    else:
        raise StartupError(f"could not import '{module}': no such file ({_EXPECTED})")
    if path.endswith('.py'):
        path = path[:-3]
    parts = [os.path.basename(path)]
    parent = os.path.dirname(path)
    while os.path.isfile(os.path.join(parent, '__init__.py')):
        parts.insert(0, os.path.basename(parent))
        parent = os.path.dirname(parent)
    _prepend_sys_path(parent)
    return '.'.join(parts)


_GRANIAN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_IMPORTLIB_DIR = os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep


def _is_machinery(filename: str) -> bool:
    """Whether a frame belongs to the import system or to granian itself, not to the app."""
    return filename.startswith('<frozen importlib') or os.path.abspath(filename).startswith(
        (_GRANIAN_DIR, _IMPORTLIB_DIR)
    )


def app_frames(tb: TracebackType | None) -> TracebackType | None:
    """`tb` without the frames of importlib and granian: only the application's own frames."""
    kept = []
    while tb is not None:
        if not _is_machinery(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    chain = None
    for entry in reversed(kept):
        chain = TracebackType(chain, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return chain


def _app_error(target: str, exc: BaseException) -> StartupError:
    """`cannot import 'main:app': NameError: ...`; trims `exc` to the app's frames (chain it)."""
    exc.__traceback__ = app_frames(exc.__traceback__)
    return StartupError(f"cannot import '{target}': {type(exc).__name__}: {exc}")


def _import(module: str, target: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only "the target module itself is missing" is our message; a missing dependency
        # imported by the app is the app's own error and keeps its traceback.
        if exc.name and (module == exc.name or module.startswith(exc.name + '.')):
            raise StartupError(f"could not import module '{module}' (target '{target}'; {_EXPECTED})") from None
        raise _app_error(target, exc) from exc
    except Exception as exc:
        raise _app_error(target, exc) from exc


def load_target(target: str, *, factory: bool = False, working_dir: str | os.PathLike[str] | None = None) -> Any:
    """Import and return the object named by `target` (`module:attr`, `pkg.mod:obj.app`, `src/main.py:app`).

    `working_dir` (default: the current directory) is put first on `sys.path` before importing.
    With `factory`, the named object is called with no arguments and its result returned.
    """
    module, attribute = split_target(target)
    directory = os.path.abspath(os.fspath(working_dir)) if working_dir else os.getcwd()
    _prepend_sys_path(directory)
    name = _module_from_path(module, directory) if _is_path(module) else module
    obj = _import(name, target)
    for part in attribute.split('.'):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise StartupError(
                f"attribute '{attribute}' not found in module '{name}' (target '{target}'; {_EXPECTED})"
            ) from None
    if factory:
        if not callable(obj):
            raise StartupError(f"application factory '{name}:{attribute}' is not callable (--factory was given)")
        try:
            obj = obj()
        except Exception as exc:
            exc.__traceback__ = app_frames(exc.__traceback__)
            raise StartupError(f"application factory '{name}:{attribute}' raised {type(exc).__name__}: {exc}") from exc
    return obj


def load_env_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """Load dotenv files into `os.environ` without overriding variables that are already set.

    Among the files, a later file's value wins over an earlier one. Returns the variables that
    were set. Needs `python-dotenv` (`pip install granian[dotenv]`).
    """
    paths = [os.fspath(path) for path in paths]
    if not paths:
        return {}
    try:
        from dotenv import dotenv_values
    except ImportError:
        raise StartupError("env files need the 'python-dotenv' package: pip install 'granian[dotenv]'") from None
    merged: dict[str, str] = {}
    for path in paths:
        if not os.path.isfile(path):
            raise StartupError(f"env file '{path}' does not exist")
        merged.update({key: value for key, value in dotenv_values(path).items() if value is not None})
    applied = {key: value for key, value in merged.items() if key not in os.environ}
    os.environ.update(applied)
    return applied


def _no_op(loop: Any) -> None:
    return None


RSGIHook = Callable[[Any], Any]


def resolve_rsgi_app(app: Any) -> tuple[Callable[..., Any], RSGIHook, RSGIHook]:
    """`(handler, init_hook, del_hook)` for an RSGI target object.

    The handler is `app.__rsgi__` when defined, else `app`. The hooks are `app.__rsgi_init__`
    and `app.__rsgi_del__` (each called with the worker's event loop), or no-ops when absent.
    """
    handler = getattr(app, '__rsgi__', None)
    if handler is None:
        handler = app
    if not callable(handler):
        raise StartupError(f'the RSGI application must be callable (or define __rsgi__), got {type(app).__name__}')
    hooks = []
    for name in ('__rsgi_init__', '__rsgi_del__'):
        hook = getattr(app, name, None)
        hooks.append(hook if callable(hook) else _no_op)
    return handler, hooks[0], hooks[1]
