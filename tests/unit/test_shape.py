"""Guessing an app's interface from its shape, with hand-written callables and real frameworks."""

import functools

import pytest

from granian.constants import Interfaces
from granian.server.shape import guess_interface, mismatch, mismatch_hint, mismatch_warning


async def asgi_app(scope, receive, send):
    pass


async def rsgi_app(scope, protocol):
    pass


def wsgi_app(environ, start_response):
    return []


class AsyncCallable:
    async def __call__(self, scope, receive, send):
        pass


class SyncCallable:
    def __call__(self, environ, start_response):
        return []


class RSGIObject:
    async def __rsgi__(self, scope, protocol):
        pass

    def __rsgi_init__(self, loop):
        pass


class RSGIAndASGI(RSGIObject):
    async def __call__(self, scope, receive, send):
        pass


class RSGIAndAnything(RSGIObject):
    def __call__(self, *args):
        pass


class RSGIAndRSGICall(RSGIObject):
    async def __call__(self, scope, protocol):
        pass


class Middleware:
    """An ASGI middleware written generically: it cannot be told apart from anything else."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, *args, **kwargs):
        return await self.app(*args, **kwargs)


def sync_wrapper_of(func):
    @functools.wraps(func)
    def wrapper(scope, protocol):  # not a coroutine function, returns a coroutine
        return func(scope, protocol)

    return wrapper


def kwargs_wrapper_of(func):
    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        return await func(*args, **kwargs)

    return wrapper


async def four(prefix, scope, receive, send):
    pass


async def asgi_with_option(scope, receive, send, debug=False):
    pass


async def asgi_with_kwargs(scope, receive, send, **extra):
    pass


async def asgi_with_required_keyword(scope, receive, send, *, mode):
    pass


async def asgi_with_optional_keyword(scope, receive, send, *, mode=None):
    pass


def sync_three(scope, receive, send):
    pass


@pytest.mark.parametrize(
    ('obj', 'expected'),
    [
        (asgi_app, Interfaces.ASGI),
        (rsgi_app, Interfaces.RSGI),
        (wsgi_app, Interfaces.WSGI),
        (AsyncCallable(), Interfaces.ASGI),
        (SyncCallable(), Interfaces.WSGI),
        (AsyncCallable().__call__, Interfaces.ASGI),
        (RSGIObject(), Interfaces.RSGI),
        (RSGIAndRSGICall(), Interfaces.RSGI),
        (functools.partial(four, '/api'), Interfaces.ASGI),
        (functools.partial(functools.partial(four, '/api')), Interfaces.ASGI),
        # (receive, send) left of an async function: by its shape, an RSGI callable.
        (functools.partial(asgi_app, {}), Interfaces.RSGI),
        (asgi_with_optional_keyword, Interfaces.ASGI),
    ],
    ids=lambda value: getattr(value, '__name__', None) or type(value).__name__,
)
def test_plain_shapes(obj, expected):
    assert guess_interface(obj) == expected


@pytest.mark.parametrize(
    'obj',
    [
        AsyncCallable,  # a class: calling it builds an instance
        SyncCallable,
        RSGIAndASGI(),  # serves both
        RSGIAndAnything(),
        Middleware(asgi_app),
        kwargs_wrapper_of(asgi_app),
        sync_wrapper_of(rsgi_app),  # sync, but wraps a coroutine function: it may return one
        sync_wrapper_of(asgi_app),
        asgi_with_option,
        asgi_with_kwargs,
        asgi_with_required_keyword,
        sync_three,
        lambda: None,
        print,
        len,
        'main:app',
        None,
        42,
    ],
    ids=lambda value: getattr(value, '__name__', None) or type(value).__name__,
)
def test_ambiguous_shapes_are_not_guessed(obj):
    assert guess_interface(obj) is None


class Unreadable:
    """A proxy whose attributes raise something else than AttributeError."""

    def __getattr__(self, name):
        raise RuntimeError('working outside of a context')

    def __call__(self, environ, start_response):
        return []


def test_an_object_that_raises_on_inspection_is_not_guessed():
    assert guess_interface(Unreadable()) is None
    assert mismatch_hint(Unreadable(), 'asgi') is None


def test_mismatch_and_messages():
    assert mismatch(asgi_app, 'rsgi') == Interfaces.ASGI
    assert mismatch(asgi_app, 'asgi') is None
    assert mismatch(asgi_app, 'asginl') is None
    assert mismatch(asgi_app, Interfaces.ASGINL) is None
    assert mismatch(wsgi_app, 'asginl') == Interfaces.WSGI
    assert mismatch(rsgi_app, 'RSGI') is None
    assert mismatch(Middleware(asgi_app), 'rsgi') is None
    assert mismatch_hint(rsgi_app, 'wsgi') == 'the app looks like an RSGI application: run with --interface rsgi'
    assert mismatch_hint(wsgi_app, 'wsgi') is None
    assert mismatch_warning(asgi_app, 'rsgi', 'main:app') == (
        "app 'main:app' looks like an ASGI application but --interface is rsgi: run with --interface asgi"
    )
    assert mismatch_warning(wsgi_app, 'asgi', 'main:app') == (
        "app 'main:app' looks like a WSGI application but --interface is asgi: run with --interface wsgi"
    )
    assert mismatch_warning(asgi_app, 'asgi', 'main:app') is None


# --- real frameworks ------------------------------------------------------------------------


def test_flask():
    flask = pytest.importorskip('flask')
    app = flask.Flask('shape_test')
    assert guess_interface(app) == Interfaces.WSGI
    assert guess_interface(app.wsgi_app) == Interfaces.WSGI
    assert mismatch(app, 'asgi') == Interfaces.WSGI


def test_starlette():
    applications = pytest.importorskip('starlette.applications')
    from starlette.middleware.cors import CORSMiddleware

    app = applications.Starlette()
    assert guess_interface(app) == Interfaces.ASGI
    assert guess_interface(CORSMiddleware(app, allow_origins=['*'])) == Interfaces.ASGI
    assert mismatch(app, 'rsgi') == Interfaces.ASGI


def test_fastapi():
    fastapi = pytest.importorskip('fastapi')
    app = fastapi.FastAPI()
    assert guess_interface(app) == Interfaces.ASGI
    assert mismatch(app, 'wsgi') == Interfaces.ASGI


def test_litestar():
    litestar = pytest.importorskip('litestar')
    app = litestar.Litestar(route_handlers=[])
    assert guess_interface(app) == Interfaces.ASGI


def test_django_handlers():
    pytest.importorskip('django')
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    # Built without __init__ (which needs configured settings): the shape is the class's.
    assert guess_interface(WSGIHandler.__new__(WSGIHandler)) == Interfaces.WSGI
    assert guess_interface(ASGIHandler.__new__(ASGIHandler)) == Interfaces.ASGI
