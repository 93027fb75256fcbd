"""A wrapper that makes any object store behave like one behind a slow, narrow link.

For benchmarks: run the same workload over a fast local store wrapped in
``ThrottledStore(store, bytes_per_second=12.5e6, max_concurrency=8)`` to see how a layer
above behaves on a 100 Mbit/s line with at most eight requests in flight.

Mechanism:

- ``max_concurrency`` is a semaphore: a call holds one slot from start to finish,
  including its simulated transfer time, so the ninth concurrent call waits.
- ``bytes_per_second`` is enforced per direction (uploads and downloads are separate
  links, as on a full-duplex line) by a virtual clock: each transfer of ``n`` bytes is
  booked on its link right after the previous booking ends and lasts
  ``n / bytes_per_second``; the call sleeps until its booking is over.  Concurrent
  transfers therefore share the bandwidth instead of each getting all of it.  Uploads are
  booked before the inner put, downloads after the inner get (their size is known then).
- Listings pass through unthrottled (they move metadata, not object data).

Add request latency by stacking a :class:`~cloudfs.store.faulty.FaultyStore` with
``latency=``.  State belongs to one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cloudfs._buffers import Bytes
from cloudfs.store.protocol import ObjectMeta, ObjectStore

__all__ = ["ThrottledStore"]


class _Link:
    """One direction of a link: books transfers back to back at a fixed rate."""

    def __init__(self, bytes_per_second: float | None) -> None:
        self._rate = bytes_per_second
        self._free_at = 0.0

    async def transfer(self, nbytes: int) -> None:
        if not self._rate or nbytes <= 0:
            return
        now = asyncio.get_running_loop().time()
        self._free_at = max(now, self._free_at) + nbytes / self._rate
        await asyncio.sleep(self._free_at - now)


class ThrottledStore:
    """An object store limited in bandwidth per direction and in concurrent calls."""

    def __init__(
        self,
        inner: ObjectStore,
        bytes_per_second: float | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError(f"bytes_per_second must be positive, not {bytes_per_second}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.inner = inner
        self.bytes_per_second = bytes_per_second
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency or 2**31)
        self._upload = _Link(bytes_per_second)
        self._download = _Link(bytes_per_second)

    @property
    def description(self) -> str:
        """The wrapped store's description."""
        return self.inner.description

    async def put(self, key: str, data: Bytes, *, if_absent: bool = False) -> str | None:
        """Book the upload, then put through the inner store."""
        async with self._slots:
            await self._upload.transfer(len(memoryview(data).cast("B")))
            return await self.inner.put(key, data, if_absent=if_absent)

    async def get(self, key: str) -> bytes:
        """Get through the inner store, then book the download."""
        async with self._slots:
            data = await self.inner.get(key)
            await self._download.transfer(len(data))
            return data

    async def get_sized(self, key: str, size: int, *, start: int = 0) -> memoryview:
        """Sized get through the inner store, then book the download."""
        async with self._slots:
            data = await self.inner.get_sized(key, size, start=start)
            await self._download.transfer(len(data))
            return data

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """Ranged get through the inner store, then book the download."""
        async with self._slots:
            data = await self.inner.get_range(key, start, length)
            await self._download.transfer(len(data))
            return data

    async def head(self, key: str) -> ObjectMeta:
        """Head through the inner store, holding a concurrency slot."""
        async with self._slots:
            return await self.inner.head(key)

    async def delete(self, key: str) -> None:
        """Delete through the inner store, holding a concurrency slot."""
        async with self._slots:
            await self.inner.delete(key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        """List through the inner store, unthrottled."""
        async for meta in self.inner.list(prefix):
            yield meta

    async def close(self) -> None:
        """Close the inner store."""
        await self.inner.close()
