"""The Python half of a graceful stop: every task finished, or cancelled and awaited, before
the event loop closes.

The engine does the network half (`src/http/drain.rs`): it stops accepting, lets connections
finish, cuts those still open at the graceful timeout and then calls `on_stopped`. What is
left then runs on the loop: request tasks that go on after their response (background work,
cleanup; a request whose connection was cut sees `http.disconnect` or its next `send` fail),
and the tasks an application started itself. The worker and the embedded server finish them
in this order (see `docs/architecture.md`, "Stopping a worker"):

1. `finish_requests`: request tasks may run until the graceful deadline (stop signal +
   `--graceful-timeout`); those still running are cancelled and awaited, for at most
   `CLEANUP_TIMEOUT` seconds;
2. the interface's teardown (ASGI lifespan shutdown, RSGI `__rsgi_del__`), by the caller;
3. `cancel_leftovers`: every other task still on the loop is cancelled and awaited (bounded
   the same way), async generators are closed and the default executor is shut down, as
   `asyncio.run` does before it closes its loop.

A task that still runs after its cancellation and `CLEANUP_TIMEOUT` is abandoned with a
warning; the functions return how many were, so that the worker can exit without waiting
for them.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Callable
from typing import Any

from ..log import RUNTIME_LOGGER

__all__ = ['CLEANUP_TIMEOUT', 'cancel_leftovers', 'finish_requests', 'request_runner', 'request_tasks']

logger = logging.getLogger(RUNTIME_LOGGER)

#: Seconds a cancelled task (or, for WSGI, a thread told that its client is gone) has to finish.
CLEANUP_TIMEOUT = 5.0

#: Code objects of the coroutine functions that run one request (see `request_runner`).
_RUNNERS: set[types.CodeType] = set()


def request_runner(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Marks `fn`, the coroutine function an interface runs one request in, so that
    `request_tasks` recognises its tasks. Costs nothing per request: the tasks are found by
    their coroutine's code object, only at shutdown."""
    _RUNNERS.add(fn.__code__)
    return fn


def request_tasks(loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[Any]]:
    """The request tasks still running on `loop`."""
    return {task for task in asyncio.all_tasks(loop) if getattr(task.get_coro(), 'cr_code', None) in _RUNNERS}


async def _cancel_and_wait(tasks: set[asyncio.Task[Any]]) -> tuple[set[asyncio.Task[Any]], set[asyncio.Task[Any]]]:
    """Cancels `tasks` and waits for them, `CLEANUP_TIMEOUT` at most: (done, still running)."""
    for task in tasks:
        task.cancel()
    return await asyncio.wait(tasks, timeout=CLEANUP_TIMEOUT)


async def finish_requests(deadline: float) -> int:
    """Lets the request tasks run until `deadline` (`loop.time()`), then cancels and awaits
    those left. Returns how many still run after that (abandoned)."""
    loop = asyncio.get_running_loop()
    # One pass first: disconnect notices the engine queued last reach their tasks.
    await asyncio.sleep(0)
    tasks = request_tasks(loop)
    if tasks:
        _, tasks = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
    if not tasks:
        return 0
    logger.warning('Graceful timeout reached: cancelling %d request task(s) still running', len(tasks))
    _, left = await _cancel_and_wait(tasks)
    if left:
        logger.warning(
            '%d request task(s) still running %gs after being cancelled: abandoned', len(left), CLEANUP_TIMEOUT
        )
    return len(left)


async def cancel_leftovers() -> int:
    """Cancels and awaits every other task on the loop (tasks the application started and
    left running), closes async generators and shuts the default executor down. Returns how
    many tasks still run after `CLEANUP_TIMEOUT` (abandoned)."""
    loop = asyncio.get_running_loop()
    tasks = asyncio.all_tasks(loop) - {asyncio.current_task()}
    left: set[asyncio.Task[Any]] = set()
    if tasks:
        done, left = await _cancel_and_wait(tasks)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                loop.call_exception_handler(
                    {
                        'message': 'unhandled exception in a task cancelled at shutdown',
                        'exception': task.exception(),
                        'task': task,
                    }
                )
        if left:
            logger.warning('%d task(s) still running %gs after being cancelled: abandoned', len(left), CLEANUP_TIMEOUT)
    await loop.shutdown_asyncgens()
    try:
        await asyncio.wait_for(loop.shutdown_default_executor(), CLEANUP_TIMEOUT)
    except asyncio.TimeoutError:
        logger.warning('The default executor still runs a call %gs after the stop: abandoned', CLEANUP_TIMEOUT)
        return len(left) + 1
    return len(left)
