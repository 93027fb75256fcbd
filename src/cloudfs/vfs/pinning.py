"""Pinning and warm-up: keep chosen files in the disk cache, or fetch a tree ahead of use.

:class:`Pinner` makes the cache's pinned set equal to the blocks of every pinned tree.
One pass (:meth:`Pinner.sync`) walks each pin (a file, or a folder recursively — so files
added later are picked up by the next pass), collects the block refs of its files
(committed and journaled), fetches and verifies the blocks that are not cached, and pins
them; blocks no pin needs any more are unpinned and become evictable again.  Each pin's
outcome is stored in the :class:`~cloudfs.cache.pins.PinStore`: ``pinned`` with its file
count and size, or ``could not pin`` and why (the 80 % pin limit, a store error).  The
owner runs a pass every ``interval`` seconds and whenever :meth:`Pinner.wake` is called.

:func:`warm_up` walks a tree the same way and fetches what is missing into the cache
without pinning it, the way a read's fetch caches what it downloads
(:meth:`~cloudfs.vfs.fetch.BlockFetcher.cache_fetched`): each block authenticated and
written into its slot in one worker hop, the index rows committed in batches.  Pins go through
:meth:`~cloudfs.cache.disk.DiskCache.put_clean`, which checks the pin limit before it
writes and pins in the same step.

State is owned by the event loop the pinner runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol

from cloudfs.blocks.layout import block_count
from cloudfs.blocks.ref import BlockRef
from cloudfs.cache.pins import PinStore
from cloudfs.meta.protocol import Inode, InodeKind
from cloudfs.vfs.core import Vfs

__all__ = ["Pinner", "PinningCache", "tree_refs", "warm_up"]

log = logging.getLogger(__name__)

FETCH_CONCURRENCY = 8


class PinningCache(Protocol):
    """What pinning needs of the disk cache."""

    async def is_cached(self, block_id: bytes) -> bool: ...

    async def put_clean(
        self, block_id: bytes, sealed: bytes | memoryview, *, pin: bool = False
    ) -> bool: ...

    async def pin(self, ids: Iterable[bytes]) -> None: ...

    async def unpin(self, ids: Iterable[bytes]) -> None: ...

    async def pinned_ids(self) -> set[bytes]: ...


async def _files(vfs: Vfs, inode: Inode) -> AsyncIterator[Inode]:
    """Every regular file at or under ``inode`` (symlinks are not followed)."""
    if inode.kind == InodeKind.FILE:
        yield inode
        return
    if inode.kind != InodeKind.DIR:
        return
    cookie = 0
    while batch := await vfs.readdir(inode.ino, cookie):
        cookie = batch[-1].cookie
        for item in batch:
            async for found in _files(vfs, item.inode):
                yield found


async def _refs(vfs: Vfs, inode: Inode) -> list[BlockRef]:
    """The block refs of a file as this client sees it (journaled writes included)."""
    count = block_count(inode.size, vfs.block_size)
    refs = dict(await vfs.meta.get_blocks(inode.ino, 0, count)) if count else {}
    pending = vfs.queue.overlay(inode.ino)
    if pending is not None:
        refs.update(pending.blocks)
    return [ref for index, ref in refs.items() if index < count]


async def tree_refs(vfs: Vfs, ino: int) -> tuple[int, list[BlockRef]]:
    """How many files are at or under ``ino``, and all their block refs."""
    files, refs = 0, []
    async for inode in _files(vfs, await vfs.getattr(ino)):
        files += 1
        refs.extend(await _refs(vfs, inode))
    return files, refs


async def _fetch(
    vfs: Vfs,
    cache: PinningCache,
    refs: list[BlockRef],
    *,
    pin: bool,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Fetch (verified) the blocks of ``refs`` that are not cached, in parallel: the
    uncached neighbours in one pack by one request, about ``FETCH_CONCURRENCY`` blocks
    in flight."""
    slots = asyncio.Semaphore(max(1, FETCH_CONCURRENCY // vfs.blocks.pack_span))

    async def keep(ref: BlockRef, sealed: bytes | memoryview) -> None:
        if not pin:  # verified and written as a read's fetch is, rows in batches
            await vfs.fetcher.cache_fetched(ref, sealed)
            return
        await vfs.blocks.unseal(ref, sealed)  # never cache what fails authentication
        if not await cache.put_clean(ref.id, sealed, pin=pin) and pin:
            raise OSError(errno.ENOSPC, "the cache is full of dirty or pinned blocks")

    async def run_of(run: list[BlockRef]) -> None:
        async with slots:
            missing = []  # still one run: a pack's blocks at rising offsets
            for ref in run:
                if not await cache.is_cached(ref.id):
                    missing.append(ref)
                elif pin:
                    await cache.pin([ref.id])
            if missing:
                sealed = await vfs.blocks.download_refs(missing)
                await asyncio.gather(*map(keep, missing, sealed))  # decrypted side by side
        if progress is not None:
            progress(sum(ref.size for ref in run))

    await asyncio.gather(*(run_of(run) for run in vfs.blocks.pack_runs(refs)))


async def warm_up(
    vfs: Vfs, cache: PinningCache, ino: int, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Fetch every block at or under ``ino`` into the cache; (files, bytes).  ``cache``
    is the VFS's own disk cache: what is fetched goes in through its fetcher."""
    reads_through: object = vfs.fetcher.disk
    if reads_through is not cache:
        raise ValueError("warm_up needs the disk cache the VFS reads through")
    files, refs = await tree_refs(vfs, ino)
    await _fetch(vfs, cache, refs, pin=False, progress=progress)
    await vfs.fetcher.settle()  # the last rows committed: all of it reads as cached
    return files, sum(ref.size for ref in refs)


class Pinner:
    """Keeps the cache's pinned blocks equal to the blocks of the pinned trees."""

    def __init__(
        self, vfs: Vfs, cache: PinningCache, pins: PinStore, *, interval: float = 10.0
    ) -> None:
        self.vfs = vfs
        self.cache = cache
        self.pins = pins
        self.interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception:
                log.exception("pinning pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def sync(self) -> None:
        """One pass: pin what the pins name, unpin what they no longer do."""
        async with self._lock:
            wanted: set[bytes] = set()
            for pin in self.pins.load():
                wanted |= await self._pin_one(pin.path, pin.ino)
            stale = await self.cache.pinned_ids() - wanted
            if stale:
                await self.cache.unpin(stale)

    async def _pin_one(self, path: str, ino: int) -> set[bytes]:
        try:
            files, refs = await tree_refs(self.vfs, ino)
        except FileNotFoundError:
            self.pins.record(path, "could not pin", "it no longer exists")
            return set()
        already = await self.cache.pinned_ids()
        todo = [ref for ref in refs if ref.id not in already]
        size = sum(ref.size for ref in refs)
        try:
            await _fetch(self.vfs, self.cache, todo, pin=True)
        except Exception as e:
            self.pins.record(path, "could not pin", str(e), files=files, bytes=size)
            return {ref.id for ref in refs if ref.id in already}
        self.pins.record(path, "pinned", files=files, bytes=size)
        return {ref.id for ref in refs}
