"""OpenFile: the write buffer and commit of one open inode.

All handles of an inode share one :class:`OpenFile`, so a write through one handle is
visible to reads through another at once, as POSIX requires.  The mechanism:

* A write copies bytes into per-block ``bytearray`` buffers (``dirty``).  A block that is
  not wholly overwritten is first filled from its committed content.
* When a write moves past the end of a block, that block is sealed and uploaded in the
  background (``uploading``) and its buffer is dropped once the upload lands; the result is
  a ref waiting to be committed (``uploaded``).  Writers wait when ``max_inflight`` uploads
  are running, which bounds memory to a few blocks per file whatever its size.
* ``commit`` (flush, fsync, close) uploads what is still dirty, waits for every upload,
  then commits the new block map and size in one metadata transaction, compare-and-set on
  the inode version this client last saw.  Upload first, commit second: the metadata never
  points at a missing object.  An upload that was superseded before its commit is deleted.

State is owned by the event loop task that calls into the VFS; ``lock`` serialises the
operations that must not interleave (a commit with a write to the same block).
"""

from __future__ import annotations

import asyncio
import time

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.layout import spans
from cloudfs.meta.protocol import BlockRef, Inode, MetaStore
from cloudfs.vfs._background import spawn
from cloudfs.vfs.fetch import BlockFetcher

__all__ = ["OpenFile"]


class OpenFile:
    """Buffered writes of one inode, shared by its handles."""

    def __init__(
        self,
        inode: Inode,
        *,
        meta: MetaStore,
        blocks: BlockStore,
        fetcher: BlockFetcher,
        uploads: asyncio.Semaphore,
        max_inflight: int,
    ) -> None:
        self.ino = inode.ino
        self.base_version = inode.version
        self.size = inode.size
        self.committed_size = inode.size
        self.mtime_ns = inode.mtime_ns
        self.handles = 0
        self.meta = meta
        self.blocks = blocks
        self.fetcher = fetcher
        self.block_size = blocks.block_size
        self.dirty: dict[int, bytearray] = {}
        self.uploading: dict[int, asyncio.Task[None]] = {}
        self.uploaded: dict[int, BlockRef] = {}
        self.block_map: dict[int, BlockRef | None] = {}
        self.lock = asyncio.Lock()
        self._uploads = uploads
        self._inflight = asyncio.Semaphore(max_inflight)
        self.max_dirty = 2 * max_inflight
        self._errors: list[BaseException] = []

    @property
    def has_changes(self) -> bool:
        pending = self.dirty or self.uploading or self.uploaded
        return bool(pending) or self.size != self.committed_size

    # -- reading -------------------------------------------------------------------------
    async def committed_ref(self, index: int) -> BlockRef | None:
        """The committed ref of block ``index``, loading the block map in chunks."""
        if index not in self.block_map:
            chunk = 256
            first = index - index % chunk
            refs = await self.meta.get_blocks(self.ino, first, chunk)
            for i in range(first, first + chunk):
                self.block_map.setdefault(i, refs.get(i))
        return self.block_map[index]

    async def read_block(self, index: int) -> bytes | bytearray:
        """The current content of block ``index`` (maybe shorter than a block: zeros follow)."""
        buf = self.dirty.get(index)
        if buf is not None:
            return buf
        task = self.uploading.get(index)
        if task is not None:
            await asyncio.wait([task])
        ref = self.uploaded.get(index) or await self.committed_ref(index)
        return b"" if ref is None else await self.fetcher.get(ref)

    # -- writing -------------------------------------------------------------------------
    async def write(self, offset: int, data: bytes | bytearray | memoryview) -> int:
        """Copy ``data`` into the buffers at ``offset``; upload blocks the write moved past."""
        view = memoryview(data).cast("B")
        pos = 0
        async with self.lock:
            for span in spans(offset, len(view), self.block_size):
                buf = await self._buffer_for(
                    span.index, whole=span.start == 0 and span.end == self.block_size
                )
                if len(buf) < span.start:
                    buf.extend(bytes(span.start - len(buf)))
                buf[span.start : span.end] = view[pos : pos + span.length]
                pos += span.length
                if span.end == self.block_size:
                    await self._start_upload(span.index)
            while len(self.dirty) > self.max_dirty:  # scattered partial writes
                await self._start_upload(next(iter(self.dirty)))
            self.size = max(self.size, offset + len(view))
            self.mtime_ns = time.time_ns()
        return len(view)

    async def _buffer_for(self, index: int, *, whole: bool) -> bytearray:
        buf = self.dirty.get(index)
        if buf is not None:
            return buf
        if index in self.uploading:
            await asyncio.wait([self.uploading[index]])
            buf = self.dirty.get(index)  # the upload failed and gave its bytes back
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
        """Forget an uncommitted upload of ``index``: its object will never be referenced."""
        ref = self.uploaded.pop(index, None)
        if ref is not None:
            spawn(self.blocks.delete(ref.id))

    async def _start_upload(self, index: int) -> None:
        await self._inflight.acquire()
        data = bytes(self.dirty.pop(index))
        task = asyncio.ensure_future(self._upload(index, data))
        self.uploading[index] = task

    async def _upload(self, index: int, data: bytes) -> None:
        ref = None
        try:
            ref, sealed = await self.blocks.seal(data)
            async with self._uploads:
                await self.blocks.upload(ref, sealed)
            self.uploaded[index] = ref
        except Exception as e:
            # Keep the bytes so that the next commit retries them: nothing is lost.
            self._errors.append(e)
            self.dirty.setdefault(index, bytearray(data))
            if ref is not None:  # a torn write or a lost reply may have left the object
                spawn(self.blocks.delete(ref.id))
        finally:
            self.uploading.pop(index, None)
            self._inflight.release()

    def _raise_upload_error(self) -> None:
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    # -- committing ------------------------------------------------------------------------
    async def commit(self) -> Inode | None:
        """Make every write so far durable and visible; return the new inode, if any."""
        async with self.lock:
            # An upload that failed before gave its bytes back to ``dirty``, retried just
            # below: only the failures of this commit's uploads may fail it.
            self._errors.clear()
            for index in list(self.dirty):
                await self._start_upload(index)
            if self.uploading:
                await asyncio.wait(list(self.uploading.values()))
            self._raise_upload_error()
            if not self.has_changes:
                return None
            inode = await self.meta.commit_write(
                self.ino,
                size=self.size,
                blocks=dict(self.uploaded),
                mtime_ns=self.mtime_ns,
                expected_version=self.base_version,
            )
            self.block_map.update(self.uploaded)
            self.uploaded.clear()
            self._forget_blocks_past(inode.size)
            self.accept(inode)
            return inode

    def accept(self, inode: Inode) -> None:
        """Adopt an inode this client just changed itself (commit, setattr, rename...)."""
        self.base_version = inode.version
        self.committed_size = inode.size
        if not (self.dirty or self.uploading or self.uploaded):
            self.size = inode.size
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
        """Drop uncommitted writes (the inode was purged)."""
        for task in list(self.uploading.values()):
            task.cancel()
        for index in list(self.uploaded):
            self._supersede(index)
        self.dirty.clear()
