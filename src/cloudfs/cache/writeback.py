"""UploadQueue: write-back of journaled commits to the object store, then the metadata.

How a write becomes durable and visible:

1. The VFS seals each changed block and stores it in the disk cache as *dirty* (durable on
   local disk, never evicted).
2. On close, flush or fsync it :meth:`UploadQueue.submit`\\ s a record — the new size,
   mtime and block slots — to the :class:`~cloudfs.cache.journal.Journal`.  Once that
   returns, the write survives a killed process; ``close()`` may return.
3. A worker takes records oldest first (one at a time per inode, several inodes at once),
   uploads their blocks with bounded concurrency (neighbours as one pack in a format-4
   filespace: ``BlockStore.pack_groups``, ADR 20), commits the block map to the metadata
   engine in one transaction, marks the blocks clean in the cache (evictable: a retry or
   a replay no longer needs them) and only then forgets the record.  Upload first, commit
   second: metadata never points at a missing object.
4. Failures (store down, timeouts, metadata busy) are retried with exponential backoff,
   capped, forever; a retry re-sends only the blocks that did not go through.  An outage
   delays uploads, never loses them.  A record that cannot be committed (a dirty block
   lost or damaged locally) fails every later ``wait`` that covers its inode.  A record
   whose inode was deleted meanwhile is dropped and its objects removed.
5. On start, records left by a previous process are replayed; dirty blocks no record names
   (staged by a writer that never reached close) are discarded: they were never
   acknowledged.

Until a record is committed, :meth:`overlay` gives readers its sizes and block slots, so a
client reads its own writes at once.  ``wait`` is what ``fsync`` and ``sync_all`` block on.

A block just staged is usually uploaded moments later, so staging :meth:`offer`\\ s its
sealed bytes and the queue keeps them in memory, within ``hold_bytes``, for the upload:
it then need not read them back from the disk cache (a thread hand-off and a read per
block).  Only a shortcut: the disk cache stays the copy that counts (a replay after a
crash and a block that did not fit read it); a held block is let go once uploaded.

State is owned by the event loop that calls ``start``; the worker is one task on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from cloudfs._buffers import Bytes
from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.ref import BlockRef
from cloudfs.cache.journal import Journal, JournalRecord
from cloudfs.errors import IntegrityError
from cloudfs.meta.protocol import Inode, MetaStore

__all__ = ["DirtyBlocks", "PendingFile", "QueueStatus", "UploadQueue"]

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.05
BACKOFF_MAX = 5.0


class DirtyBlocks(Protocol):
    """What the queue needs of the disk cache."""

    async def get(self, block_id: bytes, *, count: bool = True) -> bytes | None: ...

    async def mark_clean(self, ids: Iterable[bytes]) -> None: ...

    async def discard(self, ids: Iterable[bytes]) -> None: ...

    async def dirty_ids(self) -> list[bytes]: ...


@dataclass
class PendingFile:
    """What readers see of an inode's journaled but uncommitted records."""

    size: int
    mtime_ns: int
    blocks: dict[int, BlockRef] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueStatus:
    records: int
    files: int
    bytes: int
    retrying: bool
    last_error: str


Committed = Callable[[JournalRecord, Inode], None]


class UploadQueue:
    """Uploads and commits journaled records in the background."""

    def __init__(
        self,
        journal: Journal,
        dirty: DirtyBlocks,
        blocks: BlockStore,
        meta: MetaStore,
        *,
        concurrency: int = 8,
        parallel_records: int = 16,
        hold_bytes: int = 32 * 1024 * 1024,
        on_commit: Committed | None = None,
    ) -> None:
        self.journal = journal
        self.dirty = dirty
        self.blocks = blocks
        self.meta = meta
        self.on_commit = on_commit
        self._uploads = asyncio.Semaphore(concurrency)  # blocks being uploaded
        self._upload_slots = concurrency
        self._taking_slots = asyncio.Lock()
        self._parallel = parallel_records
        self._records: dict[int, JournalRecord] = {}  # seq → record, oldest first
        self._busy: set[int] = set()  # inodes with a record in flight
        self._overlays: dict[int, PendingFile] = {}
        self._changed = asyncio.Condition()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._retrying = False
        self._last_error = ""
        # seq → (ino, why): kept in the journal for a restart, reported by every wait
        self._failed: dict[int, tuple[int, str]] = {}
        self._held: dict[bytes, Bytes] = {}  # block id → sealed bytes staged, not uploaded
        self._held_bytes = 0
        self._hold_limit = hold_bytes

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Replay what a previous process left, then start the worker."""
        for record in await self.journal.pending():
            self._add(record)
        named = {ref.id for r in self._records.values() for ref in r.blocks.values()}
        orphans = [i for i in await self.dirty.dirty_ids() if i not in named]
        if orphans:
            await self.dirty.discard(orphans)
        if self._records:
            log.info("replaying %d journaled commits", len(self._records))
        self._worker = asyncio.ensure_future(self._work())

    async def close(self, *, drain: bool = True) -> None:
        """Stop the worker (after every record is committed, when ``drain``)."""
        if drain:
            await self.wait()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.forget(list(self._held))

    # -- the VFS side ------------------------------------------------------------------------
    async def submit(
        self, ino: int, size: int, mtime_ns: int, blocks: dict[int, BlockRef]
    ) -> JournalRecord:
        """Journal a commit (durable when this returns) and schedule its upload."""
        record = await self.journal.append(ino, size, mtime_ns, blocks)
        self._add(record)
        async with self._changed:
            self._changed.notify_all()
        return record

    def offer(self, block_id: bytes, sealed: Bytes) -> None:
        """Keep a block just staged (durable in the disk cache) for its upload, if it fits
        in ``hold_bytes``; the caller must not change ``sealed`` afterwards."""
        if self._held_bytes + len(sealed) <= self._hold_limit and block_id not in self._held:
            self._held[block_id] = sealed
            self._held_bytes += len(sealed)

    def forget(self, ids: Iterable[bytes]) -> None:
        """Let go of held blocks that will not be uploaded (discarded by staging)."""
        for block_id in ids:
            sealed = self._held.pop(block_id, None)
            if sealed is not None:
                self._held_bytes -= len(sealed)

    def overlay(self, ino: int) -> PendingFile | None:
        return self._overlays.get(ino)

    def pending_for(self, ino: int) -> bool:
        return ino in self._overlays

    async def wait(self, ino: int | None = None) -> None:
        """Return once every record submitted so far (for ``ino``, or all) is committed."""
        targets = {s for s, r in self._records.items() if ino is None or r.ino == ino}
        async with self._changed:
            await self._changed.wait_for(lambda: not targets & self._records.keys())
        failed = [why for i, why in self._failed.values() if ino is None or i == ino]
        if failed:
            raise OSError(errno.EIO, f"a journaled write could not be committed: {failed[0]}")

    def status(self) -> QueueStatus:
        records = list(self._records.values())
        return QueueStatus(
            records=len(records),
            files=len({r.ino for r in records}),
            bytes=sum(r.pending_bytes for r in records),
            retrying=self._retrying,
            last_error=self._last_error,
        )

    # -- bookkeeping -----------------------------------------------------------------------
    def _add(self, record: JournalRecord) -> None:
        self._records[record.seq] = record
        self._rebuild_overlay(record.ino)

    def _rebuild_overlay(self, ino: int) -> None:
        mine = [r for r in self._records.values() if r.ino == ino]
        if not mine:
            self._overlays.pop(ino, None)
            return
        overlay = PendingFile(size=mine[-1].size, mtime_ns=mine[-1].mtime_ns)
        for record in mine:
            for index, ref in record.blocks.items():
                if index * self.blocks.block_size < record.size:
                    overlay.blocks[index] = ref
            for index in [i for i in overlay.blocks if i * self.blocks.block_size >= record.size]:
                del overlay.blocks[index]  # a later, smaller record truncated it
        self._overlays[ino] = overlay

    # -- the worker ------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            async with self._changed:
                await self._changed.wait_for(self._runnable_exists)
                for record in self._runnable():
                    self._busy.add(record.ino)
                    task = asyncio.ensure_future(self._process(record))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    def _runnable(self) -> list[JournalRecord]:
        """Oldest record of each idle inode, at most ``parallel`` in flight."""
        picked: list[JournalRecord] = []
        seen: set[int] = set()
        room = self._parallel - len(self._busy)
        for record in self._records.values():
            if len(picked) >= room:
                break
            if record.ino in self._busy or record.ino in seen:
                seen.add(record.ino)
                continue
            seen.add(record.ino)
            picked.append(record)
        return picked

    def _runnable_exists(self) -> bool:
        return bool(self._runnable())

    async def _process(self, record: JournalRecord) -> None:
        # id → the ref as stored (in a pack or not); a retry re-sends only what is not in
        uploaded: dict[bytes, BlockRef] = {}
        try:
            inode = await self._with_retries(lambda: self._apply(record, uploaded))
            await self.journal.done(record.seq)
            if inode is not None and self.on_commit is not None:
                self.on_commit(replace(record, blocks=_stored(record, uploaded)), inode)
        except Exception as e:
            self._failed[record.seq] = (record.ino, str(e))
            self.forget([ref.id for ref in record.blocks.values()])  # a restart reads the disk
        finally:
            async with self._changed:
                self._records.pop(record.seq, None)
                self._busy.discard(record.ino)
                self._rebuild_overlay(record.ino)
                self._changed.notify_all()

    async def _apply(self, record: JournalRecord, uploaded: dict[bytes, BlockRef]) -> Inode | None:
        todo = [g for g in self.blocks.pack_groups(record.blocks) if g[0].id not in uploaded]
        results = await asyncio.gather(
            *(self._upload(group, uploaded) for group in todo), return_exceptions=True
        )
        # Every upload has finished (none keeps running behind a retry); a lost local
        # block cannot be retried, so it decides before any transient failure.
        errors = [r for r in results if isinstance(r, BaseException)]
        errors.sort(key=lambda e: not isinstance(e, IntegrityError))
        if errors:
            raise errors[0]
        try:
            inode = await self.meta.commit_write(
                record.ino,
                size=record.size,
                blocks=_stored(record, uploaded),
                mtime_ns=record.mtime_ns,
            )
        except FileNotFoundError:  # the file was deleted meanwhile: nothing to commit
            await self._drop(record)
            return None
        # Only now may the blocks be evicted: until the commit, a retry or the replay
        # after a crash needs them (the record is forgotten after this returns).
        await self.dirty.mark_clean([ref.id for ref in record.blocks.values()])
        return inode

    async def _upload(self, group: list[BlockRef], uploaded: dict[bytes, BlockRef]) -> None:
        """Upload one block, or neighbours as one pack; holds a slot per block (up to
        all of them), which also bounds how many sealed blocks are read back."""
        weight = min(len(group), self._upload_slots)
        async with self._taking_slots:  # one group at a time takes its slots: no deadlock
            for _ in range(weight):
                await self._uploads.acquire()
        try:
            sealed = [await self._sealed(ref) for ref in group]
            if len(group) == 1:
                await self.blocks.upload(group[0], sealed[0])
                stored = group
            else:
                stored = await self.blocks.upload_pack(group, sealed)
        finally:
            for _ in range(weight):
                self._uploads.release()
        uploaded.update((ref.id, ref) for ref in stored)
        self.forget([ref.id for ref in group])

    async def _sealed(self, ref: BlockRef) -> Bytes:
        sealed = self._held.get(ref.id)
        if sealed is None:
            sealed = await self.dirty.get(ref.id, count=False)
        if sealed is None:
            raise IntegrityError(f"journaled block {ref.id.hex()} is missing from the cache")
        return sealed

    async def _drop(self, record: JournalRecord) -> None:
        ids = [ref.id for ref in record.blocks.values()]
        self.forget(ids)
        await self.dirty.discard(ids)
        for group in self.blocks.pack_groups(record.blocks):
            with contextlib.suppress(Exception):
                if len(group) == 1:
                    await self.blocks.delete(group[0].id)
                else:
                    await self.blocks.delete_pack(group[0].id)

    async def _with_retries(self, attempt: Callable[[], Awaitable[Inode | None]]) -> Inode | None:
        delay = BACKOFF_FIRST
        while True:
            try:
                result = await attempt()
                self._retrying = False
                return result
            except IntegrityError as e:  # lost local data: retrying cannot help
                self._last_error = str(e)
                log.error("cannot upload a journaled commit: %s", e)
                raise
            except Exception as e:
                self._retrying = True
                self._last_error = f"{type(e).__name__}: {e}"
                log.warning("upload failed, retrying in %.1f s: %s", delay, self._last_error)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, BACKOFF_MAX)


def _stored(record: JournalRecord, uploaded: dict[bytes, BlockRef]) -> dict[int, BlockRef]:
    """The record's block map as uploaded: packed blocks point into their packs."""
    return {index: uploaded.get(ref.id, ref) for index, ref in record.blocks.items()}
