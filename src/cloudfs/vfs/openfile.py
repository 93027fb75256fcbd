"""OpenFile: the write buffer of one open inode, and how its writes reach the journal.

All handles of an inode share one :class:`OpenFile`, so a write through one handle is
visible to reads through another at once, as POSIX requires.  The mechanism:

* A write copies bytes into per-block ``bytearray`` buffers (``dirty``).  A block that is
  not wholly overwritten is first filled from its current content.
* When a write moves past the end of a block, that block is *staged* in the background
  (``staging``): sealed (compressed, encrypted under a fresh id) and stored in the disk
  cache as dirty, durable on local disk.  Its buffer is then dropped and its ref waits in
  ``staged``.  Writers wait when ``max_inflight`` blocks are being sealed, and the disk
  cache makes them wait when dirty data fills it, which bounds memory and disk.  A writer
  that waits on stalled staging first journals its staged blocks (``_progress``): they
  hold dirty room that only their upload frees.
* ``commit`` (flush, fsync, close) stages what is still dirty, then submits one record —
  size, mtime, staged block slots — to the upload queue's journal.  When it returns the
  write survives a killed process; the queue uploads and commits it to the metadata
  engine in the background (see ``cloudfs.cache.writeback``).  A large write also submits
  a record whenever ``stage_limit`` bytes are staged, so the queue starts uploading long
  before the file is closed.
* A staged block superseded before it was submitted is discarded from the cache.

Reads see, in order: dirty buffers, staged blocks, the queue's pending records, then the
committed block map (loaded from the metadata engine in chunks, kept while open and
updated when the queue commits).

State is owned by the event loop task that calls into the VFS; ``lock`` serialises the
operations that must not interleave (a commit with a write to the same block).
"""

from __future__ import annotations

import asyncio
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Callable

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.layout import spans
from cloudfs.cache.writeback import UploadQueue
from cloudfs.errors import IntegrityError
from cloudfs.meta.connect import ExternalLink
from cloudfs.meta.protocol import BlockRef, Inode, MetaStore
from cloudfs.vfs._background import spawn
from cloudfs.vfs.external import ExternalFetcher
from cloudfs.vfs.fetch import BlockFetcher
from cloudfs.vfs.staging import Staging

__all__ = ["OpenFile"]

MAP_CHUNK = 256  # block refs loaded per metadata call
STALL_SECONDS = 0.05  # staging this long without progress: journal the staged blocks


class OpenFile:
    """Buffered writes of one inode, shared by its handles."""

    def __init__(
        self,
        inode: Inode,
        *,
        meta: MetaStore,
        blocks: BlockStore,
        fetcher: BlockFetcher,
        queue: UploadQueue,
        staging: Staging,
        max_inflight: int,
        stage_limit: Callable[[], int],
        external: tuple[ExternalLink, ExternalFetcher] | None = None,
    ) -> None:
        self.ino = inode.ino
        # An external file reads its linked object instead of blocks (and is never written).
        self.external = external
        self.meta = meta
        self.blocks = blocks
        self.fetcher = fetcher
        self.queue = queue
        self.staging_area = staging
        self.block_size = blocks.block_size
        self.handles = 0
        self.base_version = inode.version
        pending = queue.overlay(inode.ino)
        self.size = pending.size if pending else inode.size
        self.mtime_ns = pending.mtime_ns if pending else inode.mtime_ns
        self.known_size = self.size  # as committed or journaled
        self.dirty: dict[int, bytearray] = {}
        self.staging: dict[int, asyncio.Task[None]] = {}
        self.staged: dict[int, BlockRef] = {}
        self.block_map: dict[int, BlockRef | None] = {}
        self._map_loads: dict[int, asyncio.Future[dict[int, BlockRef]]] = {}  # by chunk
        self.lock = asyncio.Lock()
        self._inflight = asyncio.Semaphore(max_inflight)
        self.max_dirty = 2 * max_inflight
        self.stage_limit = stage_limit
        self._errors: list[BaseException] = []

    @property
    def has_changes(self) -> bool:
        pending = self.dirty or self.staging or self.staged
        return bool(pending) or self.size != self.known_size

    def created(self) -> None:
        """This client has just created the file: it has no committed blocks, so a first
        partial write need not ask the engine for any (as if the map had been read)."""
        self.block_map.update(dict.fromkeys(range(MAP_CHUNK)))

    # -- reading -------------------------------------------------------------------------
    async def committed_ref(self, index: int) -> BlockRef | None:
        """The ref of block ``index`` as journaled or committed (``None``: a hole)."""
        pending = self.queue.overlay(self.ino)
        if pending is not None and index in pending.blocks:
            return pending.blocks[index]
        if index not in self.block_map:
            first = index - index % MAP_CHUNK
            refs = await asyncio.shield(self._map_load(first))
            for i in range(first, first + MAP_CHUNK):
                self.block_map.setdefault(i, refs.get(i))
        return self.block_map[index]

    def _map_load(self, first: int) -> asyncio.Future[dict[int, BlockRef]]:
        """The one lookup of the block map chunk at ``first``, shared by every caller that
        asks while it runs: a read and the read-ahead it starts wait for the same query,
        and wake in the order they asked (the read first, then its read-ahead)."""
        load = self._map_loads.get(first)
        if load is None:
            load = asyncio.ensure_future(self.meta.get_blocks(self.ino, first, MAP_CHUNK))
            self._map_loads[first] = load
            load.add_done_callback(lambda _: self._map_loads.pop(first, None))
        return load

    async def read_block(self, index: int) -> bytes | bytearray:
        """The current content of block ``index`` (maybe shorter than a block: zeros follow)."""
        data, _ = await self.read_part(index, 0, self.block_size, whole=True)
        return data

    async def read_part(
        self, index: int, start: int, end: int, *, whole: bool
    ) -> tuple[bytes | bytearray, int]:
        """Content of block ``index`` covering ``[start, end)``, and the offset it starts at.

        With ``whole`` (or when the block is local) the whole block, from offset 0; else
        possibly only the frames the range touches (a small random read).
        """
        if self.external is not None:
            link, fetcher = self.external
            return await fetcher.get(link, index), 0
        buf = self.dirty.get(index)
        if buf is not None:
            return buf, 0
        task = self.staging.get(index)
        if task is not None:
            await asyncio.wait([task])
            buf = self.dirty.get(index)  # staging failed and gave the bytes back
            if buf is not None:
                return buf, 0
        ref = self.staged.get(index) or await self.committed_ref(index)
        if ref is None:
            return b"", 0
        try:
            return await self._fetch(ref, start, end, whole=whole)
        except IntegrityError:
            # Taken from a journaled record that the queue has since committed with the
            # block in a pack, and evicted meanwhile: its own object was never written.
            moved = None if ref.pack is not None else await self.committed_ref(index)
            if moved is None or moved.pack is None or moved.id != ref.id:
                raise
            return await self._fetch(moved, start, end, whole=whole)

    async def _fetch(
        self, ref: BlockRef, start: int, end: int, *, whole: bool
    ) -> tuple[bytes | bytearray, int]:
        if whole:
            return await self.fetcher.get(ref), 0
        return await self.fetcher.get_range(ref, start, end)

    # -- writing -------------------------------------------------------------------------
    async def write(self, offset: int, data: bytes | bytearray | memoryview) -> int:
        """Copy ``data`` into the buffers at ``offset``; stage blocks the write moved past."""
        view = memoryview(data).cast("B")
        pos = 0
        async with self.lock:
            for span in spans(offset, len(view), self.block_size):
                whole = span.start == 0 and span.end == self.block_size
                buf = await self._buffer_for(span.index, whole=whole)
                if len(buf) < span.start:
                    buf.extend(bytes(span.start - len(buf)))
                _put(buf, span.start, view[pos : pos + span.length])
                pos += span.length
                # The size grows with each block, so that a record submitted in the middle
                # of a large write covers every block it names.
                self.size = max(self.size, offset + pos)
                self.mtime_ns = time.time_ns()
                if span.end == self.block_size:
                    await self._stage(span.index)
                    await self._submit_if_over_limit()
            while len(self.dirty) > self.max_dirty:  # scattered partial writes
                await self._stage(next(iter(self.dirty)))
            await self._submit_if_over_limit()
        return len(view)

    async def _submit_if_over_limit(self) -> None:
        if self._staged_bytes() >= self.stage_limit():
            await self._submit(wait_staging=False)

    async def _buffer_for(self, index: int, *, whole: bool) -> bytearray:
        buf = self.dirty.get(index)
        if buf is not None:
            return buf
        if index in self.staging:
            while index in self.staging:
                await self._progress()
            buf = self.dirty.get(index)  # staging failed and gave its bytes back
            if buf is not None:
                return buf
        if whole:
            buf = bytearray()
        else:
            buf = bytearray(await self.read_block(index))
            del buf[max(0, self.size - index * self.block_size) :]
        self._supersede(index)
        self.dirty[index] = buf
        return buf

    def _supersede(self, index: int) -> None:
        """Forget a staged, unsubmitted block of ``index``: it will never be referenced."""
        ref = self.staged.pop(index, None)
        if ref is not None:
            spawn(self.staging_area.discard(ref))

    def _staged_bytes(self) -> int:
        return sum(ref.stored for ref in self.staged.values())

    async def _stage(self, index: int) -> None:
        while self._inflight.locked():
            await self._progress()
        await self._inflight.acquire()
        data = self.dirty.pop(index)  # handed over, not copied: nothing else holds it now
        self.staging[index] = asyncio.ensure_future(self._stage_block(index, data))

    async def _progress(self) -> None:
        """Wait until some block being staged is done (call with ``lock`` held).

        A staged block holds dirty room in the disk cache until a record names it and the
        queue uploads it.  When staging stalls (dirty data fills the cache), journal what
        is staged, or the stalled blocks could wait for room this file itself holds.
        """
        done, _ = await asyncio.wait(
            list(self.staging.values()), timeout=STALL_SECONDS, return_when=FIRST_COMPLETED
        )
        if not done and self.staged:
            await self._submit(wait_staging=False)

    async def _stage_block(self, index: int, data: bytearray) -> None:
        try:
            self.staged[index] = await self.staging_area.stage(data)
        except Exception as e:
            # Keep the bytes so that the next commit retries them: nothing is lost.  A
            # copy: a view of ``data`` may live on in the error's traceback, and a
            # bytearray with views cannot grow.
            self._errors.append(e)
            self.dirty.setdefault(index, bytearray(data))
        finally:
            self.staging.pop(index, None)
            self._inflight.release()

    # -- committing ------------------------------------------------------------------------
    async def commit(self) -> bool:
        """Journal every write so far (durable locally); True if there was anything."""
        async with self.lock:
            return await self._submit(wait_staging=True)

    async def _submit(self, *, wait_staging: bool) -> bool:
        if wait_staging:
            self._errors.clear()  # only this commit's failures may fail it
            for index in list(self.dirty):
                await self._stage(index)
        while self.staging and wait_staging:
            await self._progress()
        if self._errors and wait_staging:
            error, self._errors = self._errors[0], []
            raise error
        if not (self.staged or self.size != self.known_size):
            return False
        staged, self.staged = self.staged, {}
        await self.queue.submit(self.ino, self.size, self.mtime_ns, staged)
        self.known_size = self.size
        return True

    def committed(self, blocks: dict[int, BlockRef], inode: Inode) -> None:
        """The queue committed a record of this inode: adopt its block map and version."""
        self.block_map.update(blocks)
        self._forget_blocks_past(inode.size)
        self.base_version = inode.version

    def accept(self, inode: Inode) -> None:
        """Adopt an inode this client just changed itself (setattr, rename...)."""
        self.base_version = inode.version
        if not self.has_changes and not self.queue.pending_for(self.ino):
            self.size = self.known_size = inode.size
            self.mtime_ns = inode.mtime_ns

    def _forget_blocks_past(self, size: int) -> None:
        last = -(-size // self.block_size)
        for index in [i for i in self.block_map if i >= last]:
            del self.block_map[index]
        if last and (last - 1) in self.block_map:
            del self.block_map[last - 1]  # its valid size may have been clamped

    def truncated(self, inode: Inode) -> None:
        """The committed file was truncated to ``inode.size`` (after a commit)."""
        self._forget_blocks_past(inode.size)
        self.accept(inode)

    async def abort(self) -> None:
        """Drop unsubmitted writes (the inode was purged)."""
        for task in list(self.staging.values()):
            task.cancel()
        for index in list(self.staged):
            self._supersede(index)
        self.dirty.clear()


def _put(buf: bytearray, start: int, data: memoryview) -> None:
    """``buf[start : start + len(data)] = data`` with one copy (``len(buf) >= start``).

    Python 3.11 copies the value of a bytearray slice assignment into a temporary
    bytearray first; writing through a memoryview, then appending, does not.
    """
    inside = min(len(data), len(buf) - start)  # what overwrites bytes already there
    if inside > 0:
        with memoryview(buf) as view:
            view[start : start + inside] = data[:inside]
    if inside < len(data):
        buf += data[inside:]
