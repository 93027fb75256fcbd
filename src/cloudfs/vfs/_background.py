"""Fire-and-forget work (prefetches, deletes of superseded uploads).

The task is kept referenced until it ends (asyncio holds only weak references), and its
failure is dropped: such work is an optimisation or a clean-up that a later pass repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

__all__ = ["spawn"]

_running: set[asyncio.Task[None]] = set()


def spawn(work: Awaitable[object]) -> None:
    """Run ``work`` in the background of the current event loop; ignore its failure."""

    async def run() -> None:
        with contextlib.suppress(Exception):
            await work

    task = asyncio.ensure_future(run())
    _running.add(task)
    task.add_done_callback(_running.discard)
