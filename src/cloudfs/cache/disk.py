"""DiskCache: a filespace's sealed blocks on local disk, bounded, surviving restarts.

Mechanism:

* **Bytes at rest are the stored bytes.**  A block is kept exactly as sealed (compressed,
  encrypted, bound to its id), so the cache holds no plaintext and a corrupt copy is
  refused by the AEAD when the caller opens it; the caller then
  :meth:`~DiskCache.discard`\\ s it and refetches.  A fetched (clean) block goes to a slot
  of a slab file (:mod:`cloudfs.cache._slabs`: one ``pwrite``, no file to create); a
  written (dirty) block, the only copy until uploaded, gets a file of its own
  (:mod:`cloudfs.cache._files`: temp, fsync, rename) and keeps it once clean.
* **The state lives in memory, the index makes it durable.**  The event loop owns a dict
  of entries (size, clean/dirty, pin count) and byte tallies; every change is applied
  there first (synchronously, so admission and eviction decisions never interleave) and
  then written to ``index.sqlite`` by the cache's worker thread.  File reads and writes
  run in the default thread pool.
* **Bounded on every insert.**  Before writing a block, :meth:`~DiskCache.put_clean` (and
  :meth:`~DiskCache.reserve_fill`, the fetch path's cheaper way in: slot reserved at
  once, written by the caller's worker thread, rows committed in batches) asks the
  eviction policy (:mod:`cloudfs.cache.policy`) for victims among clean, unpinned
  blocks until the new one fits; if dirty + pinned + in-flight bytes leave no room it
  returns False (None).  Dirty blocks (written, not yet uploaded) and pinned blocks are never
  evicted.  So the cache never exceeds its capacity except by dirty and pinned bytes.
* **Ordering makes kill -9 harmless.**  A put writes the file or slot and then commits
  its row; an eviction or discard deletes rows, then files, and frees slots only once
  the rows naming them are gone (so no two rows ever name one slot).  :meth:`open`
  reconciles: rows whose file is missing or has the wrong size, or whose slot lies past
  the end of its slab file, are dropped (a dirty one is reported in
  :attr:`~DiskCache.open_report` and logged as an error), files without a row and
  leftover temp files are deleted, slab files are cut after their last slot in use.
  A dirty block is durable when :meth:`~DiskCache.put_dirty` returns: file and directory
  fsynced, row committed with ``synchronous=FULL``.
* **Writers wait, never fail.**  Dirty bytes are limited to :data:`DIRTY_FRACTION` of
  the capacity; :meth:`~DiskCache.put_dirty` waits until :meth:`~DiskCache.mark_clean` or
  :meth:`~DiskCache.discard` frees room (a lone block larger than the limit still gets
  in).  Pins may take :data:`PIN_FRACTION` of the capacity; beyond that
  :meth:`~DiskCache.pin` raises :class:`PinLimitError`.
* **Per-id ordering.**  While a block's file is being written or deleted its id is
  *busy*; any other operation on that id waits for it, so a re-put can never race the
  deletion of the evicted copy.  The write itself is shielded: cancelling a caller never
  leaves memory and index disagreeing.
* **Housekeeping, every few seconds** (:data:`HOUSEKEEPING_SECONDS`): hit/miss counters
  and last-use sequence numbers are flushed to the index (not per access), and the
  ``capacity_bytes`` setting is re-read (:meth:`~DiskCache.reload_settings`).  Another
  process (``cloudfs cache set-size``, ``cloudfs status``) uses :func:`write_capacity`
  and :func:`read_usage`, which touch only the index: the running cache applies a new
  size within one housekeeping period.  One process at a time opens a cache directory
  (an ``flock`` on ``lock``).

Limitations: the policy's state is rebuilt on open from last-use order (frequencies are
not persisted); the open check stats every file (about a second per 100,000 blocks).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from cloudfs._buffers import Bytes
from cloudfs._thread import DedicatedThread as Worker
from cloudfs.cache._files import ALIGN, BlockFiles
from cloudfs.cache._index import Index, Row, read_settings, write_setting
from cloudfs.cache._slabs import SlabFiles, SlotAllocator, pages_for
from cloudfs.cache.policy import DEFAULT_POLICY, EvictionPolicy, make_policy
from cloudfs.errors import ClientError, CloudfsError, ConfigurationError

T = TypeVar("T")

__all__ = [
    "DIRTY_FRACTION",
    "HOUSEKEEPING_SECONDS",
    "PIN_FRACTION",
    "CacheUsage",
    "DiskCache",
    "Fill",
    "NotCachedError",
    "OpenReport",
    "PinLimitError",
    "read_usage",
    "write_capacity",
]

log = logging.getLogger("cloudfs.cache")

DIRTY_FRACTION = 0.75
PIN_FRACTION = 0.80
HOUSEKEEPING_SECONDS = 2.0
_CAPACITY = "capacity_bytes"


class PinLimitError(CloudfsError):
    """Pinning would let pinned blocks take more than :data:`PIN_FRACTION` of the cache."""


class NotCachedError(CloudfsError, LookupError):
    """A block asked to be pinned is not in the cache (put it first)."""


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """A snapshot of the cache's size and counters (bytes are sealed bytes)."""

    capacity: int
    used: int
    dirty_bytes: int
    dirty_count: int
    pinned_bytes: int
    pinned_count: int
    entries: int
    hits: int
    misses: int

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@dataclass(frozen=True, slots=True)
class OpenReport:
    """What :meth:`DiskCache.open` repaired."""

    dropped_rows: int  # clean rows whose file was missing or the wrong size
    lost_dirty: tuple[bytes, ...]  # dirty blocks whose file was missing or the wrong size
    removed_files: int  # files without a row, temp files, junk


@dataclass(slots=True)
class _Entry:
    size: int
    dirty: bool
    pins: int
    slot: int | None = None  # in the slab of its size (clean blocks); None: its own file

    @property
    def locked(self) -> bool:
        return self.dirty or self.pins > 0


@dataclass(slots=True)
class Fill:
    """Room, a slot and the claims for one fetched block, between
    :meth:`DiskCache.reserve_fill` and :meth:`DiskCache.end_fill`."""

    block_id: bytes
    entry: _Entry
    victims: list[bytes]
    files: list[bytes]  # victims in files of their own
    freed: list[tuple[int, int]]  # victims' slots
    written: bool = False


@dataclass(slots=True)
class _Tally:
    used: int = 0
    entries: int = 0
    dirty_bytes: int = 0
    dirty_count: int = 0
    pinned_bytes: int = 0
    pinned_count: int = 0
    locked_bytes: int = 0  # dirty or pinned: what eviction can never free

    def add(self, entry: _Entry, sign: int) -> None:
        self.used += sign * entry.size
        self.entries += sign
        if entry.dirty:
            self.dirty_bytes += sign * entry.size
            self.dirty_count += sign
        if entry.pins:
            self.pinned_bytes += sign * entry.size
            self.pinned_count += sign
        if entry.locked:
            self.locked_bytes += sign * entry.size


class DiskCache:
    """The disk cache of one filespace.  Create with :meth:`open`.

    All state is owned by the event loop that opened it; use it from that loop only.
    """

    def __init__(self, root: Path, worker: Worker, index: Index, lock_fd: int) -> None:
        self.root = root
        self._files = BlockFiles(root)
        self._slabs = SlabFiles(root)
        self._slots = SlotAllocator()
        self._unfreed: dict[bytes, tuple[int, int]] = {}  # forgotten, row not yet deleted
        self._fills: list[Fill] = []  # ended, rows not yet committed
        self._committer: asyncio.Task[None] | None = None
        self._worker = worker
        self._index = index  # used only in the worker thread
        self._lock_fd = lock_fd
        self._entries: dict[bytes, _Entry] = {}
        self._tally = _Tally()
        self._policy: EvictionPolicy = make_policy(DEFAULT_POLICY, 1)
        self._capacity = 1
        self._reserved = self._dirty_reserved = 0  # bytes of writes in flight
        self._busy: dict[bytes, asyncio.Future[None]] = {}
        self._room = asyncio.Event()  # replaced on every notification; see _notify_room
        self._seq = 0
        self._touched: dict[bytes, int] = {}
        self._hits = self._misses = 0
        self._stats_changed = False
        self._housekeeper: asyncio.Task[None] | None = None
        self._closed = False
        self.open_report = OpenReport(0, (), 0)

    # -- opening and closing ----------------------------------------------------------
    @classmethod
    async def open(
        cls,
        root: Path,
        *,
        capacity_bytes: int,
        policy: str = DEFAULT_POLICY,
        housekeeping_interval: float = HOUSEKEEPING_SECONDS,
        journaled: Iterable[bytes] = (),
    ) -> DiskCache:
        """Create or reopen the cache in ``root`` and check its index against its files.

        ``capacity_bytes`` sizes a new cache; a cache that already has a size (set by
        :meth:`set_capacity` or :func:`write_capacity`) keeps it.  :class:`ClientError`
        if another process has the directory open.  ``journaled`` names the blocks the
        write-back journal still needs: a file of one of them without its index row (the
        row of a dirty block is not synced on its own; the journal record naming the block
        is) is adopted as dirty instead of being removed as a stray.
        """
        _check_capacity(capacity_bytes)
        make_policy(policy, capacity_bytes)  # an unknown name fails before any I/O
        lock_fd = await asyncio.to_thread(_lock, root)
        worker = Worker("cloudfs-cache-index")
        try:
            index = await worker.call(partial(Index.open, root))
            cache = cls(root, worker, index, lock_fd)
            await cache._load(capacity_bytes, policy, set(journaled))
        except BaseException:
            worker.stop()
            os.close(lock_fd)
            raise
        cache._housekeeper = asyncio.create_task(cache._housekeep(housekeeping_interval))
        return cache

    async def close(self) -> None:
        """Wait for writes in flight, flush counters and close.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._notify_room()  # waiting writers see the cache closed
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
        await self._settle(list(self._busy))
        try:
            await self._flush()
            await self._worker.call(self._index.close)
        finally:
            self._worker.stop()
            self._slabs.close()
            os.close(self._lock_fd)

    async def _load(self, default_capacity: int, policy: str, journaled: set[bytes]) -> None:
        await asyncio.to_thread(self._files.create_tree)
        await asyncio.to_thread(self._slabs.create_dir)
        settings, rows = await self._worker.call(
            lambda: (self._index.settings(), self._index.rows())
        )
        sizes, removed = await asyncio.to_thread(self._files.scan)
        lengths = await asyncio.to_thread(self._slabs.lengths)
        rows = await self._adopt(rows, sizes, journaled)
        kept = _whole(rows, sizes, lengths)
        await self._repair(rows, kept, sizes, removed)
        self._slots = SlotAllocator.from_taken(
            [(pages_for(r.size), r.slot) for r in kept if r.slot is not None]
        )
        await asyncio.to_thread(self._slabs.trim, self._slots.ends())
        self._capacity = settings.get(_CAPACITY, default_capacity)
        if _CAPACITY not in settings:
            await self._worker.call(partial(self._index.touch, (), {_CAPACITY: self._capacity}))
        self._hits, self._misses = settings.get("hits", 0), settings.get("misses", 0)
        self._policy = make_policy(policy, self._capacity)
        for row in kept:
            self._add(row.id, _Entry(row.size, row.dirty, row.pins, row.slot))
        self._seq = max((r.last_seq for r in rows), default=0) + 1
        await self._evict_over()

    async def _adopt(
        self, rows: list[Row], sizes: dict[bytes, int], journaled: set[bytes]
    ) -> list[Row]:
        """Rows for the journaled blocks whose file survived but whose row did not."""
        known = {r.id for r in rows}
        seq = max((r.last_seq for r in rows), default=0)
        adopted = [
            Row(block_id, sizes[block_id], True, 0, seq + n)
            for n, block_id in enumerate(sorted(journaled & sizes.keys() - known), 1)
        ]
        for row in adopted:
            await self._worker.call(partial(self._index.put, row, (), durable=True))
        if adopted:
            log.warning("disk cache %s: adopted %d journaled blocks", self.root, len(adopted))
        return rows + adopted

    async def _repair(
        self, rows: list[Row], kept: list[Row], sizes: dict[bytes, int], removed: int
    ) -> None:
        """Drop rows without a whole file or slot, and files without a row."""
        kept_ids = {r.id for r in kept}
        dropped = [r for r in rows if r.id not in kept_ids]
        lost = tuple(r.id for r in dropped if r.dirty)
        file_ids = {r.id for r in kept if r.slot is None}
        strays = [i for i in sizes if i not in file_ids]
        if dropped:
            await self._worker.call(
                partial(self._index.delete, [r.id for r in dropped], durable=bool(lost))
            )
        await asyncio.to_thread(self._files.delete, strays)
        self.open_report = OpenReport(len(dropped) - len(lost), lost, removed + len(strays))
        if lost:
            log.error(
                "disk cache %s: %d dirty (not yet uploaded) blocks were lost: %s",
                self.root,
                len(lost),
                ", ".join(i.hex() for i in lost),
            )
        elif dropped or strays or removed:
            log.warning("disk cache %s repaired on open: %s", self.root, self.open_report)

    # -- reading ----------------------------------------------------------------------
    async def get(self, block_id: bytes, *, count: bool = True) -> bytes | None:
        """The block's sealed bytes, or None if it is not cached.

        Counts a hit or a miss for reads on behalf of users (``count``); the upload queue
        reading dirty blocks back is not a cache lookup and passes ``count=False``.
        """
        return await self.get_with(block_id, bytes, count=count)

    async def get_with(
        self,
        block_id: bytes,
        use: Callable[[memoryview], T],
        *,
        count: bool = True,
        start: int = 0,
        length: int | None = None,
    ) -> T | None:
        """``use(sealed bytes)`` run in the reading thread (say, to decrypt them without
        a copy), or None if the block is not cached.  Exceptions from ``use`` propagate.
        With ``length``, only that many bytes from ``start`` are read (fewer if the copy
        is shorter: a damaged copy, which ``use`` should refuse).
        """
        self._check_open()
        entry = self._entries.get(block_id)
        if entry is None or block_id in self._busy:
            if count:
                self._miss()
            return None
        length = entry.size - start if length is None else min(length, entry.size - start)
        if count:
            self._policy.access(block_id)
            self._touched[block_id] = self._next_seq()
        try:
            if entry.slot is not None:
                # A slot reused while we read gives another block's bytes: refused by the
                # AEAD in ``use`` like any corrupt copy (the caller discards and refetches).
                data = await asyncio.to_thread(
                    self._slabs.read_with, pages_for(entry.size), entry.slot, use, start, length
                )
            else:
                data = await asyncio.to_thread(self._files.read_with, block_id, use, start, length)
        except FileNotFoundError:
            self._vanished(block_id)
            if count:
                self._miss()
            return None
        if count:
            self._hits += 1
            self._stats_changed = True
        return data

    def where(self, block_id: bytes) -> tuple[Path, int, int] | None:
        """Where the block's sealed bytes are on disk: ``(file, offset, length)``, or None
        if it is not cached (for tools and tests; the bytes may move once it is evicted)."""
        entry = self._entries.get(block_id)
        if entry is None:
            return None
        if entry.slot is None:
            return self._files.path(block_id), 0, entry.size
        pages = pages_for(entry.size)
        return self._slabs.path(pages), entry.slot * pages * ALIGN, entry.size

    async def is_cached(self, block_id: bytes) -> bool:
        return block_id in self

    def __contains__(self, block_id: object) -> bool:
        """Whether the block is here and readable (not being written or evicted)."""
        return block_id in self._entries and block_id not in self._busy

    async def pinned_ids(self) -> set[bytes]:
        """Ids of the blocks with at least one pin."""
        return {i for i, e in self._entries.items() if e.pins}

    async def dirty_ids(self) -> list[bytes]:
        """Ids of the dirty blocks, oldest write first."""
        return [i for i, e in self._entries.items() if e.dirty]

    async def usage(self) -> CacheUsage:
        t = self._tally
        return CacheUsage(
            self._capacity,
            t.used,
            t.dirty_bytes,
            t.dirty_count,
            t.pinned_bytes,
            t.pinned_count,
            t.entries,
            self._hits,
            self._misses,
        )

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def dirty_limit(self) -> int:
        return int(self._capacity * DIRTY_FRACTION)

    def _miss(self) -> None:
        self._misses += 1
        self._stats_changed = True

    def _vanished(self, block_id: bytes) -> None:
        """A file deleted behind the cache's back: forget it (loudly if it was dirty)."""
        entry = self._entries.get(block_id)
        if entry is None or block_id in self._busy:
            return  # evicted or discarded while we read: nothing is wrong
        if entry.dirty:
            log.error("disk cache %s: dirty block %s vanished", self.root, block_id.hex())
        self._forget(block_id)
        self._policy.remove(block_id)
        self._notify_room()

    # -- writing ----------------------------------------------------------------------
    async def put_clean(self, block_id: bytes, sealed: Bytes, *, pin: bool = False) -> bool:
        """Cache a fetched block; False (nothing cached) if dirty and pinned blocks leave
        no room.  Idempotent: a block already cached stays as it is (and counts as used).
        ``pin=True`` pins it in the same step (:class:`PinLimitError` as for :meth:`pin`).
        """
        self._check_open()
        await self._settle([block_id])
        if block_id in self._entries:
            self._policy.access(block_id)
            if pin:
                await self.pin([block_id])
            return True
        size = len(sealed)
        if pin:
            self._check_pin_room(size)
        if self._tally.locked_bytes + self._reserved + size > self._capacity:
            return False
        victims = self._pick_victims(size)
        entry = _Entry(size, False, int(pin), self._slots.take(pages_for(size)))
        await self._store(block_id, sealed, entry, victims)
        return True

    # -- the fetch path's fill: reserve, write in any thread, end ------------------
    def reserve_fill(self, block_id: bytes, size: int) -> Fill | None:
        """Room and a slot for a fetched block of ``size`` sealed bytes, at once (no
        await: the fetcher decides in the same step); None if it is cached or busy, or
        dirty and pinned blocks leave no room.  Write it with :meth:`write_fill` (in a
        worker thread), then call :meth:`end_fill` on the loop, whatever happened.

        The cheap way to cache what a read fetched: one hop for decryption and the slot
        write together, and the rows of many fills committed in one transaction.
        """
        self._check_open()
        if block_id in self._entries or block_id in self._busy:
            return None
        if self._tally.locked_bytes + self._reserved + size > self._capacity:
            return None
        victims = self._pick_victims(size)
        entry = _Entry(size, False, 0, self._slots.take(pages_for(size)))
        files = [v for v in victims if v not in self._unfreed]
        fill = Fill(block_id, entry, victims, files, self._slots_of(victims))
        self._claim([block_id, *victims])
        self._reserved += size
        return fill

    def write_fill(self, fill: Fill, sealed: Bytes) -> None:
        """(Any thread.)  Write the block into its slot."""
        assert fill.entry.slot is not None
        assert len(sealed) == fill.entry.size
        self._slabs.write(pages_for(fill.entry.size), fill.entry.slot, sealed)
        fill.written = True

    def end_fill(self, fill: Fill) -> None:
        """(Loop.)  The fill is over: its row (if written) and its victims' deletions go
        into the next batch commit; its claims last until that commit."""
        if not fill.written and fill.entry.slot is not None:
            self._slots.give(pages_for(fill.entry.size), fill.entry.slot)
            fill.entry.slot = None  # nothing to add
        if self._closed and self._committer is None:  # too late: as if killed now
            self._reserved -= fill.entry.size
            self._release([fill.block_id, *fill.victims])
            return
        self._fills.append(fill)
        if self._committer is None:
            self._committer = asyncio.ensure_future(self._commit_fills())

    async def settle_fills(self) -> None:
        """Wait until the fills ended so far are committed (their blocks readable)."""
        if self._committer is not None:
            await asyncio.shield(self._committer)

    async def _commit_fills(self) -> None:
        """Commit ended fills in batches (what ends during a commit goes in the next)."""
        try:
            while self._fills:
                batch, self._fills = self._fills, []
                rows = [
                    Row(f.block_id, f.entry.size, False, 0, self._next_seq(), f.entry.slot)
                    for f in batch
                    if f.entry.slot is not None
                ]
                victims = [v for f in batch for v in f.victims]
                files = [v for f in batch for v in f.files]
                freed = [slot for f in batch for slot in f.freed]
                try:
                    await self._worker.call(partial(self._commit_rows, rows, victims, files, freed))
                except Exception:  # a full disk: the fills are lost, nothing is wrong
                    log.exception("disk cache %s: caching %d blocks failed", self.root, len(rows))
                    for f in batch:
                        if f.entry.slot is not None:
                            self._slots.give(pages_for(f.entry.size), f.entry.slot)
                else:
                    for f in batch:
                        if f.entry.slot is not None:
                            self._add(f.block_id, f.entry)
                    self._give_slots(victims)
                finally:
                    for f in batch:
                        self._reserved -= f.entry.size
                        self._release([f.block_id, *f.victims])
        finally:
            self._committer = None

    def _commit_rows(
        self,
        rows: list[Row],
        victims: list[bytes],
        files: list[bytes],
        freed: list[tuple[int, int]],
    ) -> None:
        """(Worker thread.)  One transaction for a batch of fills; then the victims' files
        and slots go."""
        self._index.put_many(rows, victims)
        self._files.delete(files)
        self._slabs.free(freed)

    async def put_dirty(self, block_id: bytes, sealed: Bytes) -> None:
        """Keep a block not yet uploaded, durably: on disk and in the index when this
        returns.  Waits while dirty bytes would pass :attr:`dirty_limit`.  Idempotent;
        a clean cached block becomes dirty.
        """
        size = len(sealed)
        while True:
            self._check_open()
            await self._settle([block_id])
            entry = self._entries.get(block_id)
            if entry is not None and entry.dirty:
                return
            if self._dirty_fits(size if entry is None else entry.size):
                break
            await self._room.wait()
        if entry is not None:
            await self._make_dirty(block_id, entry, sealed)
        else:
            victims = self._pick_victims(size)
            await self._store(block_id, sealed, _Entry(size, True, 0), victims)

    async def _store(
        self, block_id: bytes, data: Bytes, entry: _Entry, victims: list[bytes]
    ) -> None:
        """Write file then row, shielded from the caller's cancellation."""
        self._claim([block_id, *victims])
        self._reserved += entry.size
        self._dirty_reserved += entry.size if entry.dirty else 0
        await asyncio.shield(asyncio.ensure_future(self._write(block_id, data, entry, victims)))

    async def _write(
        self, block_id: bytes, data: Bytes, entry: _Entry, victims: list[bytes]
    ) -> None:
        row = Row(block_id, entry.size, entry.dirty, entry.pins, self._next_seq(), entry.slot)
        freed = self._slots_of(victims)
        files = [v for v in victims if v not in self._unfreed]
        try:
            if entry.slot is None:
                await asyncio.to_thread(self._write_files, block_id, data, entry.dirty, files)
                await self._worker.call(partial(self._put_row, row, victims, freed))
            else:  # one hop: the index's thread writes the slot, then the row
                await self._worker.call(partial(self._write_slot, row, data, victims, files, freed))
        except BaseException:
            if entry.slot is not None:
                self._slots.give(pages_for(entry.size), entry.slot)
            raise
        else:
            self._add(block_id, entry)
            self._give_slots(victims)
        finally:
            self._reserved -= entry.size
            self._dirty_reserved -= entry.size if entry.dirty else 0
            self._release([block_id, *victims])
            self._notify_room()

    def _write_files(self, block_id: bytes, data: Bytes, dirty: bool, victims: list[bytes]) -> None:
        self._files.delete(victims)
        self._files.write(block_id, data, durable_name=dirty)

    def _put_row(self, row: Row, victims: list[bytes], freed: list[tuple[int, int]]) -> None:
        """(Worker thread.)  Commit ``row``, dropping the victims' rows; then punch out the
        victims' slots, which may be reused from now on."""
        self._index.put(row, victims)
        self._slabs.free(freed)

    def _write_slot(
        self,
        row: Row,
        data: Bytes,
        victims: list[bytes],
        files: list[bytes],
        freed: list[tuple[int, int]],
    ) -> None:
        """(Worker thread.)  A clean block into its slot, then its row (dropping the
        victims' rows); then the victims' files and slots go."""
        assert row.slot is not None
        self._slabs.write(pages_for(row.size), row.slot, data)
        self._index.put(row, victims)
        self._files.delete(files)
        self._slabs.free(freed)

    async def _make_dirty(self, block_id: bytes, entry: _Entry, sealed: Bytes) -> None:
        """A cached clean block turns dirty: durable from now on, in a file of its own."""
        self._update(entry, dirty=True)
        self._claim([block_id])
        try:
            if entry.slot is None:
                await asyncio.to_thread(self._files.sync_name, block_id)
                await self._worker.call(partial(self._index.set_dirty, [block_id], True))
                return
            slot = (pages_for(entry.size), entry.slot)
            await asyncio.to_thread(self._files.write, block_id, sealed, durable_name=True)
            row = Row(block_id, entry.size, True, entry.pins, self._next_seq(), None)
            await self._worker.call(partial(self._index.put, row, (), durable=True))
            entry.slot = None
            await self._worker.call(partial(self._slabs.free, [slot]))
            self._slots.give(*slot)
        finally:
            self._release([block_id])

    def _dirty_fits(self, size: int) -> bool:
        pending = self._tally.dirty_bytes + self._dirty_reserved
        return pending == 0 or pending + size <= self.dirty_limit

    # -- changing state ---------------------------------------------------------------
    async def mark_clean(self, ids: Iterable[bytes]) -> None:
        """The blocks are uploaded: they may be evicted from now on.  Idempotent."""
        ids = await self._present(ids)
        changed = [i for i in ids if self._entries[i].dirty]
        for block_id in changed:
            self._update(self._entries[block_id], dirty=False)
        if changed:
            self._notify_room()
            await self._worker.call(partial(self._index.set_dirty, changed, False))
            await self._evict_over()

    async def discard(self, ids: Iterable[bytes]) -> None:
        """Delete the blocks, dirty or not (a corrupt file, an abandoned write).
        Idempotent."""
        ids = await self._present(ids)
        durable = any(self._entries[i].dirty for i in ids)
        for block_id in ids:
            self._forget(block_id)
            self._policy.remove(block_id)
        self._notify_room()
        await self._drop(ids, durable=durable)

    async def pin(self, ids: Iterable[bytes]) -> None:
        """Add one pin to each block: pinned blocks are never evicted.

        All or nothing: :class:`NotCachedError` if one is not cached, :class:`PinLimitError`
        if pinned bytes would pass :data:`PIN_FRACTION` of the capacity.
        """
        wanted = list(dict.fromkeys(ids))
        ids = await self._present(wanted)
        if len(ids) != len(wanted):
            missing = ", ".join(i.hex() for i in wanted if i not in self._entries)
            raise NotCachedError(f"cannot pin blocks that are not cached: {missing}")
        self._check_pin_room(sum(self._entries[i].size for i in ids if not self._entries[i].pins))
        for block_id in ids:
            entry = self._entries[block_id]
            self._update(entry, pins=entry.pins + 1)
        await self._save_pins(ids)

    async def unpin(self, ids: Iterable[bytes]) -> None:
        """Remove one pin from each block (ignoring ones not cached or not pinned)."""
        ids = [i for i in await self._present(ids) if self._entries[i].pins]
        for block_id in ids:
            entry = self._entries[block_id]
            self._update(entry, pins=entry.pins - 1)
        if ids:
            await self._save_pins(ids)
            await self._evict_over()

    async def clear(self) -> None:
        """Drop every clean, unpinned block."""
        ids = [i for i, e in self._entries.items() if not e.locked and i not in self._busy]
        for block_id in ids:
            self._forget(block_id)
            self._policy.remove(block_id)
        await self._drop(ids, durable=False)

    async def set_capacity(self, capacity_bytes: int) -> None:
        """Change the size now (and for later opens); evicts down at once, never below
        dirty + pinned bytes."""
        _check_capacity(capacity_bytes)
        self._check_open()
        await self._worker.call(partial(self._index.touch, (), {_CAPACITY: capacity_bytes}))
        await self._apply_capacity(capacity_bytes)

    async def reload_settings(self) -> None:
        """Apply a size another process stored (:func:`write_capacity`).  The cache calls
        this every :data:`HOUSEKEEPING_SECONDS` by itself."""
        self._check_open()
        settings = await self._worker.call(self._index.settings)
        capacity = settings.get(_CAPACITY, self._capacity)
        if capacity != self._capacity and capacity > 0:
            await self._apply_capacity(capacity)

    async def _apply_capacity(self, capacity: int) -> None:
        self._capacity = capacity
        self._policy.resize(capacity)
        self._notify_room()  # the dirty limit moved
        await self._evict_over()

    async def _save_pins(self, ids: list[bytes]) -> None:
        pins = [(i, self._entries[i].pins) for i in ids if i in self._entries]
        await self._worker.call(partial(self._index.set_pins, pins))

    def _check_pin_room(self, extra: int) -> None:
        limit = int(self._capacity * PIN_FRACTION)
        if self._tally.pinned_bytes + extra > limit:
            raise PinLimitError(
                f"pinning {extra} more bytes would pass the pin limit of {limit} bytes "
                f"({PIN_FRACTION:.0%} of the cache; {self._tally.pinned_bytes} already pinned)"
            )

    # -- eviction ---------------------------------------------------------------------
    def _pick_victims(self, incoming: int) -> list[bytes]:
        """Forget clean, unpinned blocks (policy order) until ``incoming`` bytes fit."""
        victims: list[bytes] = []
        if not self._over(incoming):
            return victims
        for block_id in self._policy.victims(self._evictable):
            self._forget(block_id)
            victims.append(block_id)
            if not self._over(incoming):
                break
        return victims

    def _over(self, incoming: int) -> bool:
        return self._tally.used + self._reserved + incoming > self._capacity

    def _evictable(self, block_id: bytes) -> bool:
        entry = self._entries.get(block_id)
        return entry is not None and not entry.locked and block_id not in self._busy

    async def _evict_over(self) -> None:
        await self._drop(self._pick_victims(0), durable=False)

    async def _drop(self, ids: list[bytes], *, durable: bool) -> None:
        """Delete forgotten blocks: rows first, then files."""
        if not ids:
            return
        self._claim(ids)
        try:
            freed = self._slots_of(ids)
            files = [i for i in ids if i not in self._unfreed]
            await self._worker.call(partial(self._delete_rows, ids, durable, freed))
            await asyncio.to_thread(self._files.delete, files)
            self._give_slots(ids)
        finally:
            self._release(ids)

    def _delete_rows(self, ids: list[bytes], durable: bool, freed: list[tuple[int, int]]) -> None:
        """(Worker thread.)  Delete the rows, then punch out their slots."""
        self._index.delete(ids, durable=durable)
        self._slabs.free(freed)

    def _slots_of(self, ids: list[bytes]) -> list[tuple[int, int]]:
        """The slots of these forgotten blocks (those that were in slabs)."""
        return [self._unfreed[i] for i in ids if i in self._unfreed]

    def _give_slots(self, ids: list[bytes]) -> None:
        """The rows of these forgotten blocks are gone: their slots may be reused."""
        for block_id in ids:
            slot = self._unfreed.pop(block_id, None)
            if slot is not None:
                self._slots.give(*slot)

    # -- bookkeeping ------------------------------------------------------------------
    def _add(self, block_id: bytes, entry: _Entry) -> None:
        self._entries[block_id] = entry
        self._tally.add(entry, +1)
        self._policy.insert(block_id, entry.size)

    def _forget(self, block_id: bytes) -> None:
        entry = self._entries.pop(block_id)
        self._tally.add(entry, -1)
        self._touched.pop(block_id, None)
        if entry.slot is not None:
            self._unfreed[block_id] = (pages_for(entry.size), entry.slot)

    def _update(self, entry: _Entry, *, dirty: bool | None = None, pins: int | None = None) -> None:
        self._tally.add(entry, -1)
        entry.dirty = entry.dirty if dirty is None else dirty
        entry.pins = entry.pins if pins is None else pins
        self._tally.add(entry, +1)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _claim(self, ids: list[bytes]) -> None:
        loop = asyncio.get_running_loop()
        for block_id in ids:
            self._busy[block_id] = loop.create_future()

    def _release(self, ids: list[bytes]) -> None:
        for block_id in ids:
            future = self._busy.pop(block_id, None)
            if future is not None:
                future.set_result(None)

    async def _settle(self, ids: list[bytes]) -> None:
        """Wait until none of ``ids`` has a file operation in flight."""
        while busy := [self._busy[i] for i in ids if i in self._busy]:
            await asyncio.wait(busy)

    async def _present(self, ids: Iterable[bytes]) -> list[bytes]:
        """The distinct ``ids`` that are cached, once none of them is busy."""
        self._check_open()
        ids = list(dict.fromkeys(ids))
        await self._settle(ids)
        return [i for i in ids if i in self._entries]

    def _notify_room(self) -> None:
        """Wake every writer waiting for dirty room; each re-checks and may wait again."""
        self._room.set()
        self._room = asyncio.Event()

    def _check_open(self) -> None:
        if self._closed:
            raise ClientError("the disk cache is closed")

    # -- housekeeping -----------------------------------------------------------------
    async def _housekeep(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._flush()
                await self.reload_settings()
            except Exception:  # a full disk must not kill the loop: retry next period
                log.exception("disk cache %s: housekeeping failed", self.root)

    async def _flush(self) -> None:
        """Persist counters and last-use order (periodically, not per access)."""
        if not (self._stats_changed or self._touched):
            return
        touched, self._touched = self._touched, {}
        self._stats_changed = False
        stats = {"hits": self._hits, "misses": self._misses}
        await self._worker.call(partial(self._index.touch, list(touched.items()), stats))


def _check_capacity(capacity_bytes: int) -> None:
    if capacity_bytes <= 0:
        raise ConfigurationError(f"cache capacity must be positive, not {capacity_bytes}")


def _lock(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ClientError(f"the disk cache {root} is in use by another process") from None
    return fd


async def read_usage(root: Path) -> CacheUsage:
    """The usage of a cache another process may have open (counters as last flushed)."""
    settings, rows = await asyncio.to_thread(read_settings, root)
    tally = _Tally()
    for row in rows:
        tally.add(_Entry(row.size, row.dirty, row.pins), +1)
    return CacheUsage(
        settings.get(_CAPACITY, 0),
        tally.used,
        tally.dirty_bytes,
        tally.dirty_count,
        tally.pinned_bytes,
        tally.pinned_count,
        tally.entries,
        settings.get("hits", 0),
        settings.get("misses", 0),
    )


async def write_capacity(root: Path, capacity_bytes: int) -> None:
    """Store a new size for a cache another process may have open; it applies it within
    :data:`HOUSEKEEPING_SECONDS` (and every later open uses it)."""
    _check_capacity(capacity_bytes)
    await asyncio.to_thread(write_setting, root, _CAPACITY, capacity_bytes)


def _whole(rows: list[Row], sizes: dict[bytes, int], lengths: dict[int, int]) -> list[Row]:
    """The rows whose block is all there: a file of the right size, or a slot inside its
    slab file (one row per slot; a slot of the wrong block is refused when read)."""
    kept: list[Row] = []
    taken: set[tuple[int, int]] = set()
    for row in rows:
        if row.slot is None:
            whole = sizes.get(row.id) == row.size
        else:
            pages = pages_for(row.size)
            end = row.slot * pages * ALIGN + row.size
            whole = (
                not row.dirty
                and row.slot >= 0
                and end <= lengths.get(pages, 0)
                and (pages, row.slot) not in taken
            )
            taken.add((pages, row.slot))
        if whole:
            kept.append(row)
    return kept
