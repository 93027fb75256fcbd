"""A dedicated thread that runs blocking calls in order for coroutines.

Like a single-thread ``ThreadPoolExecutor`` with ``run_in_executor``, at about half the
cost per call, which matters when every metadata operation is one call:

* Jobs go through one ``SimpleQueue`` (no executor bookkeeping, no
  ``concurrent.futures.Future`` chained to an asyncio one).
* Results are handed back in batches: while one hand-back is scheduled on the event loop
  and has not run yet, later results join it instead of scheduling (and waking the loop)
  again.  A lone call still gets its result at once.

Jobs run strictly in submission order, one at a time, so whatever the thread owns (an
SQLite connection) needs no lock.  A job whose awaiting coroutine was cancelled still
runs; only its result is dropped.  The thread is a daemon: if :meth:`stop` is never
called it dies with the interpreter, abandoning (never half-applying) a transaction.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["DedicatedThread"]

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class DedicatedThread:
    """Runs ``call``-ed functions in one thread; results go back to the caller's loop."""

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._lock = threading.Lock()  # guards _ready
        self._ready: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in the thread, after every call submitted before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn))
        return await future

    def stop(self) -> None:
        """Let the thread end once the calls already submitted have run."""
        self._jobs.put(None)

    # -- in the thread ------------------------------------------------------------------
    def _main(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(*job)
            del job  # hold nothing of a finished job while waiting for the next

    def _run(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], fn: Callable[[], Any]
    ) -> None:
        try:
            outcome: _Outcome = (future, fn(), None)
        except BaseException as exc:  # handed to the caller, never lost
            outcome = (future, None, exc)
        self._hand_back(loop, outcome)

    def _hand_back(self, loop: asyncio.AbstractEventLoop, outcome: _Outcome) -> None:
        with self._lock:
            waiting = self._ready.setdefault(loop, [])
            waiting.append(outcome)
            if len(waiting) > 1:
                return  # a delivery is already scheduled and will take this one too
        try:
            loop.call_soon_threadsafe(self._deliver, loop)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            with self._lock:
                self._ready.pop(loop, None)

    # -- on the event loop ----------------------------------------------------------------
    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            outcomes = self._ready.pop(loop, [])
        for future, result, exc in outcomes:
            if future.cancelled():
                continue
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)
