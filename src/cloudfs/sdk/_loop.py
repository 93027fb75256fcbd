"""LoopThread: the private event loop the synchronous SDK runs its coroutines on.

The core is asyncio; SDK users are not.  Each :class:`~cloudfs.sdk.client.Client` owns one
daemon thread running an event loop; every SDK call submits a coroutine to it and blocks
for the result, so user threads may call the SDK concurrently while all filespace state is
touched by the loop thread alone.  Calling the SDK from inside that loop would deadlock,
so it is refused.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from cloudfs.errors import ClientError

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "cloudfs-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and return its result (or raise its error)."""
        if not self.running:
            coro.close()
            raise ClientError("the client is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise ClientError("the synchronous SDK cannot be called from its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
