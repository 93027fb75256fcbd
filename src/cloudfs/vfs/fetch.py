"""BlockFetcher: shared, bounded, de-duplicated block reads.

Every read of stored data goes through one fetcher per filespace:

* a small in-memory LRU of plaintext blocks, bounded in bytes, so a handle reading a block
  in pieces (the kernel and the SDK read 128 KiB–1 MiB at a time) fetches it once;
* one in-flight future per block id, so concurrent readers of the same block (and the
  read-ahead that asked for it first) share a single download;
* a semaphore bounding concurrent downloads;
* below memory, the disk cache of sealed blocks: a hit is authenticated like a download,
  and a cached copy that fails authentication (a truncated or flipped file) is discarded
  and fetched again from the store, never returned.  Fetched blocks are verified before
  they are cached.

Blocks are immutable and named by random ids, so a cached block can never be stale; the
cache needs no invalidation, only eviction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.cache.memory import MemoryCache
from cloudfs.errors import IntegrityError
from cloudfs.meta.protocol import BlockRef

__all__ = ["BlockFetcher", "SealedCache"]

MAX_INSERTS = 16  # disk-cache inserts in flight; a faster reader waits for them


class SealedCache(Protocol):
    """What the fetcher needs of the disk cache."""

    async def get(self, block_id: bytes) -> bytes | None: ...

    async def put_clean(self, block_id: bytes, sealed: bytes) -> bool: ...

    async def discard(self, ids: Iterable[bytes]) -> None: ...


class BlockFetcher:
    """Owned by one event loop; not thread-safe."""

    def __init__(
        self,
        blocks: BlockStore,
        *,
        memory_bytes: int,
        concurrency: int = 8,
        disk: SealedCache | None = None,
    ) -> None:
        self.blocks = blocks
        self.disk = disk
        self.memory = MemoryCache(memory_bytes)
        self._inflight: dict[bytes, asyncio.Future[bytes]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._inserts: set[asyncio.Future[bool]] = set()
        self.hits = 0
        self.misses = 0

    async def get(self, ref: BlockRef) -> bytes:
        """The block's plaintext, from memory, a fetch in flight, or the store."""
        cached = self.memory.get(ref.id)
        if cached is not None:
            self.hits += 1
            return cached[: ref.size]
        future = self._inflight.get(ref.id)
        if future is None:
            future = self._start(ref)
        return (await asyncio.shield(future))[: ref.size]

    def prefetch(self, ref: BlockRef) -> None:
        """Start fetching ``ref`` in the background unless it is cached or in flight."""
        if ref.id not in self.memory and ref.id not in self._inflight:
            self._start(ref)

    def _start(self, ref: BlockRef) -> asyncio.Future[bytes]:
        self.misses += 1
        task = asyncio.ensure_future(self._fetch(ref))
        self._inflight[ref.id] = task
        task.add_done_callback(lambda t: self._done(ref.id, t))
        return task

    async def _fetch(self, ref: BlockRef) -> bytes:
        if self.disk is not None:
            sealed = await self.disk.get(ref.id)
            if sealed is not None:
                try:
                    return await self.blocks.unseal(ref, sealed)
                except IntegrityError:
                    await self.disk.discard([ref.id])  # corrupt on disk: fetch it again
        async with self._slots:
            sealed = await self.blocks.download(ref)
        plain = await self.blocks.unseal(ref, sealed)
        if self.disk is not None:  # off the read path: the reader has its bytes already
            await self._cache_later(ref.id, sealed)
        return plain

    async def _cache_later(self, block_id: bytes, sealed: bytes) -> None:
        """Insert into the disk cache in the background, at most ``MAX_INSERTS`` at once."""
        assert self.disk is not None
        while len(self._inserts) >= MAX_INSERTS:
            await asyncio.wait(self._inserts, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.ensure_future(self.disk.put_clean(block_id, sealed))
        self._inserts.add(task)
        task.add_done_callback(self._inserted)

    def _inserted(self, task: asyncio.Future[bool]) -> None:
        self._inserts.discard(task)
        if not task.cancelled():
            task.exception()  # a failed insert only costs a later miss

    def _done(self, block_id: bytes, task: asyncio.Future[bytes]) -> None:
        self._inflight.pop(block_id, None)
        if task.cancelled() or task.exception() is not None:
            return
        self.remember(block_id, task.result())

    def remember(self, block_id: bytes, data: bytes) -> None:
        """Keep a block just read, evicting the least recently used."""
        self.memory.put(block_id, data)

    def clear(self) -> None:
        self.memory.clear()
