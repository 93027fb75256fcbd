"""BlockFetcher: shared, bounded, de-duplicated block reads.

Every read of stored data goes through one fetcher per filespace:

* a small in-memory LRU of plaintext blocks, bounded in bytes, so a handle reading a block
  in pieces (the kernel and the SDK read 128 KiB–1 MiB at a time) fetches it once;
* partial reads (:meth:`BlockFetcher.get_range`): a small random read of a block that is
  nowhere local fetches only the 64 KiB frames it touches (one ranged GET), kept in the
  memory cache by frame; the disk cache keeps whole blocks only;
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
from collections.abc import Callable, Iterable
from functools import partial
from typing import Protocol

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.cache.memory import MemoryCache
from cloudfs.codec.envelope import FRAME_SHIFT
from cloudfs.errors import IntegrityError
from cloudfs.meta.protocol import BlockRef

__all__ = ["BlockFetcher", "SealedCache"]

MAX_INSERTS = 16  # disk-cache inserts in flight; a faster reader waits for them


def _frame_key(block_id: bytes, index: int) -> bytes:
    """The memory-cache key of one frame (block ids are 16 bytes, so keys never collide)."""
    return block_id + index.to_bytes(4, "big")


class SealedCache(Protocol):
    """What the fetcher needs of the disk cache."""

    def __contains__(self, block_id: object) -> bool: ...

    async def get_with(
        self, block_id: bytes, use: Callable[[memoryview], bytes], *, count: bool = True
    ) -> bytes | None: ...

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
        self.partial_misses = 0

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

    async def get_range(self, ref: BlockRef, start: int, end: int) -> tuple[bytes, int]:
        """Plaintext covering ``[start, end)`` of the block, and the block offset it starts at.

        The whole block (offset 0) when it is in memory, in the disk cache or in flight,
        or cannot be read in part; otherwise only the frames the range touches.
        """
        cached = self.memory.get(ref.id)
        if cached is not None:
            self.hits += 1
            return cached[: ref.size], 0
        frames = self.blocks.frames_for(ref, start, end)
        if frames is None or ref.id in self._inflight or (self.disk and ref.id in self.disk):
            return await self.get(ref), 0
        keys = [_frame_key(ref.id, i) for i in range(frames.first, frames.last_frame + 1)]
        parts = [self.memory.get(key) for key in keys]
        if all(part is not None for part in parts):
            self.hits += 1
            return b"".join(parts), frames.plain_offset  # type: ignore[arg-type]
        self.partial_misses += 1
        try:
            async with self._slots:
                plain = await self.blocks.get_frames(ref, frames)
        except IntegrityError:
            return await self.get(ref), 0  # the whole block decides: refetched and checked
        size = 1 << FRAME_SHIFT
        for n, key in enumerate(keys):
            self.memory.put(key, plain[n * size : (n + 1) * size])
        return plain, frames.plain_offset

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
        if self.disk is not None and ref.id in self.disk:
            try:  # read and open in one worker thread, straight from the read buffer
                plain = await self.disk.get_with(ref.id, partial(self.blocks.open_sealed, ref))
            except IntegrityError:
                await self.disk.discard([ref.id])  # corrupt on disk: fetch it again
            else:
                if plain is not None:
                    return plain
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
