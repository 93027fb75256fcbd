"""Reading external (Connect) files: blocks of a customer's object, cached like ours.

An external file's content is an object in someone else's bucket, pinned to the ETag it
had when it was linked.  It is read in blocks of the filespace's block size, so it takes
the same path as a native file (see ``fetch``):

* the shared in-memory LRU of plaintext blocks (the native fetcher's ``MemoryCache``);
* the disk cache, sealed under the filespace's data key like any block (ciphertext at
  rest), so nothing of the customer's data lies on local disk in the clear;
* one in-flight download per block, shared by concurrent readers and read-ahead;
* a semaphore bounding concurrent downloads;
* the same bounded wait through a store outage as native blocks (``fetch.ride_out``:
  retries with backoff for up to ``store_wait`` seconds, then EIO).

A block's cache id is a keyed hash of (link id, ETag, size, block index): relinking an
object to a new version gives new ids, so a cached block is never stale.  The bytes come
from an :class:`ExternalObjects` (``cloudfs.connect``), which sends a ranged GET pinned to
the ETag; a changed or deleted object raises :class:`~cloudfs.errors.IntegrityError`
(EIO) and no byte of it is returned.  A short read is refused the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from cloudfs._buffers import Bytes
from cloudfs.cache.memory import MemoryCache
from cloudfs.errors import IntegrityError
from cloudfs.meta.connect import ExternalLink
from cloudfs.meta.protocol import BlockRef
from cloudfs.vfs.fetch import DEFAULT_STORE_WAIT, SealedCache, ride_out

__all__ = ["BlockSealer", "ExternalFetcher", "ExternalObjects", "external_block_id"]

_ID_LABEL = b"cloudfs/v1/external-block\n"


class ExternalObjects(Protocol):
    """Where external content comes from (implemented by ``cloudfs.connect``)."""

    async def link(self, ino: int) -> ExternalLink | None:
        """The link of external file ``ino`` (None if it has none any more)."""
        ...

    async def read_range(self, link: ExternalLink, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` of the object as linked.

        :class:`IntegrityError` if the object changed (another ETag) or is gone.
        """
        ...


class BlockSealer(Protocol):
    """Seals cache entries like stored blocks (the filespace's ``BlockStore``)."""

    def open_sealed(self, ref: BlockRef, sealed: bytes | memoryview) -> bytes: ...


def external_block_id(link: ExternalLink, index: int) -> bytes:
    """The 16-byte cache id of block ``index`` of ``link`` as pinned now."""
    digest = hashlib.sha256(_ID_LABEL)
    digest.update(f"{link.id}\n{link.store_id}\n{link.etag}\n{link.size}\n{index}".encode())
    digest.update(link.object_key)
    return digest.digest()[:16]


class ExternalFetcher:
    """Owned by the VFS's event loop; not thread-safe."""

    def __init__(
        self,
        source: ExternalObjects | None,
        *,
        block_size: int,
        memory: MemoryCache,
        seal: Callable[[bytes, bytes], Bytes] | None = None,
        opener: BlockSealer | None = None,
        disk: SealedCache | None = None,
        fill: Callable[[bytes, Callable[[], Bytes]], Awaitable[None]] | None = None,
        concurrency: int = 8,
        store_wait: float = DEFAULT_STORE_WAIT,
    ) -> None:
        self.source = source
        self.block_size = block_size
        self.memory = memory
        self.disk = disk if seal is not None and opener is not None else None
        self._seal = seal
        self._opener = opener
        self._fill = fill if self.disk is not None else None  # BlockFetcher.cache_later
        self._inflight: dict[bytes, asyncio.Future[bytes]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self.store_wait = store_wait
        self.downloads = 0

    def _source(self) -> ExternalObjects:
        if self.source is None:
            raise IntegrityError("external files cannot be read: Connect is not set up here")
        return self.source

    async def link(self, ino: int) -> ExternalLink:
        link = await self._source().link(ino)
        if link is None:
            raise IntegrityError(f"inode {ino} has no external link")
        return link

    async def get(self, link: ExternalLink, index: int) -> bytes:
        """Block ``index`` of the linked object (shorter at the end of the object)."""
        key = external_block_id(link, index)
        cached = self.memory.get(key)
        if cached is not None:
            return cached
        future = self._inflight.get(key)
        if future is None:
            future = self._start(key, link, index)
        return await asyncio.shield(future)

    def prefetch(self, link: ExternalLink, index: int) -> None:
        if index * self.block_size >= link.size:
            return
        key = external_block_id(link, index)
        if key not in self.memory and key not in self._inflight:
            self._start(key, link, index)

    def _start(self, key: bytes, link: ExternalLink, index: int) -> asyncio.Future[bytes]:
        task = asyncio.ensure_future(self._fetch(key, link, index))
        self._inflight[key] = task
        task.add_done_callback(lambda t: self._done(key, t))
        return task

    def _done(self, key: bytes, task: asyncio.Future[bytes]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self.memory.put(key, task.result())

    async def _fetch(self, key: bytes, link: ExternalLink, index: int) -> bytes:
        start = index * self.block_size
        length = max(0, min(self.block_size, link.size - start))
        cached = await self._from_disk(key, length)
        if cached is not None:
            return cached
        data = await ride_out(
            partial(self._read, link, start, length),
            self.store_wait,
            f"external file {link.ino} block {index}",
        )
        if len(data) != length:
            raise IntegrityError(
                f"external object returned {len(data)} bytes for a {length}-byte block: it "
                "changed since it was linked"
            )
        if self._fill is not None and self._seal is not None and length:
            seal = self._seal  # sealed and cached off the read path, like native blocks
            await self._fill(key, lambda: seal(key, data))
        return data

    async def _read(self, link: ExternalLink, start: int, length: int) -> bytes:
        async with self._slots:  # not held while backing off
            self.downloads += 1
            return await self._source().read_range(link, start, length)

    async def _from_disk(self, key: bytes, length: int) -> bytes | None:
        if self.disk is None or self._opener is None or key not in self.disk:
            return None
        opener = self._opener
        ref = BlockRef(key, length, 0)
        try:
            return await self.disk.get_with(key, lambda sealed: opener.open_sealed(ref, sealed))
        except IntegrityError:
            await self.disk.discard([key])
            return None
