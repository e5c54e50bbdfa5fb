"""A worker process: loads the app, runs the Rust engine and the event loop until told to stop.

Started by the supervisor as `python -m granian.server.worker` with the fds described in
`docs/architecture.md`. SIGINT and SIGTERM both mean a graceful stop, in this order: the
engine stops accepting and lets connections finish, cutting them at `--graceful-timeout`;
request tasks still running are cancelled and awaited (`granian.server.drain`); the
interface's teardown runs (ASGI lifespan shutdown, RSGI `__rsgi_del__`, WSGI threads
stopped); the engine's threads end; every other task is cancelled and awaited; the loop
closes and the process exits 0. A task or WSGI thread that ignores the stop is abandoned:
the process then ends at once (`os._exit(0)`, after flushing the logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib
import json
import logging
import os
import select
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..access_log import make_access_logger
from ..config import Config
from ..errors import StartupError
from ..log import RUNTIME_LOGGER, configure_logging
from . import drain
from .interface import INTERFACE_MODULES
from .process import MAX_REQUESTS, READY
from .proctitle import set_process_title, worker_title

if TYPE_CHECKING:
    from .interface import Served

logger = logging.getLogger(RUNTIME_LOGGER)

_PR_SET_PDEATHSIG = 1


def _die_with_parent(status_fd: int) -> None:
    """Ask the kernel to SIGTERM us when the supervisor dies, so no worker is ever orphaned."""
    if not sys.platform.startswith('linux'):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    # The supervisor holds the read end of the status pipe for our whole life: an error on
    # our end means it died before prctl took effect.
    poller = select.poll()
    poller.register(status_fd, select.POLLOUT)
    if any(ev & select.POLLERR for _, ev in poller.poll(0)):
        os.kill(os.getpid(), signal.SIGTERM)


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == 'uvloop':
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _log_from_engine(level: int, message: str) -> None:
    logger.log(level, message)


def _log_startup_error(exc: StartupError) -> None:
    """One summary line, then the app's own traceback when its code raised (already trimmed
    to the app's frames by `granian.loading`)."""
    cause = exc.__cause__
    if cause is None:
        logger.error(str(exc))
        return
    bare = cause.__traceback__ is None and cause.__cause__ is None and cause.__context__ is None
    if bare and not isinstance(cause, SyntaxError):
        logger.error(str(exc))  # nothing to show beyond the summary
        return
    logger.error(str(exc), exc_info=cause)


def serve(
    config: Config,
    socket_fd: int,
    on_ready: Callable[[], None],
    worker_id: int = 1,
    on_max_requests: Callable[[], None] = lambda: None,
    metrics_fd: int | None = None,
) -> int:
    """Load the app and serve it on `socket_fd` until a stop signal; returns the exit code.

    Worker 1 warns when the app's shape plainly belongs to another interface than `--interface`.
    `on_max_requests` is called (on the loop) once the worker served its `--limit-max-requests`;
    it goes on serving until it is told to stop. With `--metrics`, snapshots of the engine's
    metrics go to the datagram socket `metrics_fd` (`granian.server.metrics_push`).
    """
    from .. import _granian
    from ..loading import load_env_files, load_target
    from .fd_limit import raise_open_files_limit
    from .shape import mismatch_warning

    module = INTERFACE_MODULES[config.interface]
    try:
        interface = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        logger.error(f'The {config.interface} interface is not available in this build yet')
        return 1
    raised = raise_open_files_limit()
    if raised is not None:
        logger.debug('worker-%d: open files limit raised from %d to %d', worker_id, *raised)
    loop = _new_loop(config.loop)
    asyncio.set_event_loop(loop)
    try:
        if config.env_files:
            load_env_files(config.env_files)
        app = load_target(config.target, factory=config.factory, working_dir=config.working_dir)
        warning = mismatch_warning(app, config.interface, config.target) if worker_id == 1 else None
        if warning:
            logger.warning(warning)
        served = interface.setup(app, loop, config)
    except StartupError as exc:
        _log_startup_error(exc)
        loop.close()
        return 1

    on_access = make_access_logger(config.log_access_format, config.log_access_json) if config.log_access else None
    settings = config.engine_settings()  # draws this worker's --limit-max-requests jitter
    max_requests = settings['max_requests']

    def served_max() -> None:
        logger.info(
            f'worker-{worker_id} served {max_requests} requests (--limit-max-requests): asking for a replacement'
        )
        on_max_requests()

    stopped = loop.create_future()

    def on_stopped() -> None:
        if not stopped.done():
            stopped.set_result(None)

    try:
        engine = _granian.Engine(socket_fd, settings)
        engine.serve(
            interface.ENGINE_INTERFACE,
            loop,
            served.handler,
            _log_from_engine,
            on_access,
            on_stopped,
            on_max_requests=served_max if max_requests else None,
        )
    except (ValueError, OSError) as exc:
        # Settings only the engine can check (TLS material, ...): one clear line, no traceback.
        logger.error(str(exc))
        _stop_threads(served, 0.0)
        served.teardown()
        loop.close()
        return 1
    # The engine's runtimes hold their own duplicates, closed when they stop accepting: once
    # every process has closed its copy, new connections are refused.
    os.close(socket_fd)
    stop_requested_at: list[float] = []

    def stop() -> None:
        if not stop_requested_at:
            stop_requested_at.append(loop.time())
        engine.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    # Report ready from inside the running loop: uvloop only starts listening for the signals
    # above in run_forever(), so a stop request sent right after an earlier ready byte could be
    # lost and the worker would never stop.
    loop.call_soon(on_ready)
    pusher = None
    if metrics_fd is not None and config.metrics_enabled:
        from .metrics_push import MetricsPusher

        pusher = MetricsPusher(loop, engine, metrics_fd, worker_id, config.metrics_scrape_interval)
        loop.call_soon(pusher.push)
    try:
        loop.run_until_complete(stopped)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            # Stopping already: later stop requests (Ctrl-C reaches the whole group, then the
            # supervisor forwards SIGTERM) must not kill the teardown.
            signal.signal(sig, signal.SIG_IGN)
        if pusher is not None:
            pusher.close()
        abandoned = _wind_down(loop, engine, served, config, stop_requested_at)
    if abandoned:
        _exit_now(abandoned)
    return 0


def _stop_threads(served: Served, timeout: float) -> int:
    return served.stop_threads(timeout) if served.stop_threads is not None else 0


def _wind_down(
    loop: asyncio.AbstractEventLoop, engine: Any, served: Served, config: Config, stop_requested_at: list[float]
) -> int:
    """After the engine stopped (every connection over): finish the requests still running,
    tear the interface down, release the engine, finish every other task and close the loop.
    Returns how many tasks or threads were abandoned (see `granian.server.drain`)."""
    started = stop_requested_at[0] if stop_requested_at else loop.time()
    deadline = started + config.graceful_timeout
    abandoned = 0
    engine.stop()  # a no-op after a stop signal; otherwise the loop ended some other way
    try:
        abandoned += loop.run_until_complete(drain.finish_requests(deadline))
        threads = _stop_threads(served, max(0.0, deadline - loop.time()) + drain.CLEANUP_TIMEOUT)
        if threads:
            logger.warning(
                '%d WSGI thread(s) still inside the application %gs after the graceful timeout: abandoned',
                threads,
                drain.CLEANUP_TIMEOUT,
            )
        abandoned += threads
        served.teardown()
    finally:
        engine.join()
    abandoned += loop.run_until_complete(drain.cancel_leftovers())
    loop.close()
    return abandoned


def _exit_now(abandoned: int) -> None:
    """Ends the process at once, with status 0: some task or thread ignored the stop, and
    finalising the interpreter would wait for it (or pull the interpreter from under it)."""
    logger.warning('Exiting without waiting for %d abandoned task(s) or thread(s)', abandoned)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='granian.server.worker')
    parser.add_argument('--id', type=int, required=True)
    parser.add_argument('--config-fd', type=int, required=True)
    parser.add_argument('--socket-fd', type=int, required=True)
    parser.add_argument('--status-fd', type=int, required=True)
    parser.add_argument('--metrics-fd', type=int, default=None)
    args = parser.parse_args(argv)

    _die_with_parent(args.status_fd)
    # Until the loop installs its own handlers, a stop request simply ends the process.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with os.fdopen(args.config_fd, 'r', encoding='utf-8') as f:
        config = Config.from_dict(json.load(f))
    configure_logging(config.log_enabled, config.log_level, config.log_dictconfig)
    if config.process_name is not None:
        set_process_title(worker_title(config.process_name, args.id))
    status = os.fdopen(args.status_fd, 'wb', buffering=0)

    def ready() -> None:
        status.write(READY)

    def served_max() -> None:
        status.write(MAX_REQUESTS)

    try:
        return serve(
            config, args.socket_fd, ready, worker_id=args.id, on_max_requests=served_max, metrics_fd=args.metrics_fd
        )
    except Exception:
        logger.exception(f'worker-{args.id} failed')
        return 1


if __name__ == '__main__':
    sys.exit(main())
