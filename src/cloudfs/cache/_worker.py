"""One thread that runs blocking calls in submission order for coroutines.

The disk cache's SQLite connection lives in this thread and is only used there, so it
needs no lock.  A minimal cousin of ``cloudfs.meta._worker`` (which this layer may not
import): one ``SimpleQueue`` of jobs, each result handed back to the caller's loop with
``call_soon_threadsafe``.  A job whose caller was cancelled still runs; its result is
dropped.  The thread is a daemon, so a cache never closed dies with the interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["Worker"]

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class Worker:
    """Runs ``call``-ed functions one at a time in a dedicated thread."""

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in the thread after every call submitted before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn))
        return await future

    def stop(self) -> None:
        """End the thread once the calls already submitted have run."""
        self._jobs.put(None)

    def _main(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn = job
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the caller, never lost
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                loop.call_soon_threadsafe(_settle, future, result, error)
            del job, loop, future, fn, result, error


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
