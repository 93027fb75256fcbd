"""Block files of the disk cache: names, crash-safe writes, the start-up scan.

Dirty blocks (and the clean blocks they become once uploaded) have a file each; blocks
fetched from the store go to slab files instead (:mod:`cloudfs.cache._slabs`).

Layout under the cache root::

    blocks/<first 2 hex digits>/<32 hex digits>     one sealed block, exactly as stored
    blocks/<xx>/.<32 hex>.<random>.tmp              a write in progress

A block is written to a temporary file in its final directory, fsynced and renamed over
its final name, so a name in ``blocks/`` only ever holds a whole block (after a crash,
at worst an old temp file is left over; :func:`scan` removes those).  A dirty block also
fsyncs the directory, which makes the rename itself survive a power cut.  All functions
here block; the cache runs them in threads.

Block files are written and read with ``O_DIRECT`` where the file system allows it
(through a per-thread page-aligned buffer; files are cut to their exact size after the
aligned write), so the cache does not also fill the kernel's page cache with a second
copy of every block.  That copy is not free: on the VMs we measure on, growing the page
cache costs ~3 ms of CPU per MiB (the hypervisor backs each new page on first touch),
as much as fetching and decrypting the block; ``O_DIRECT`` costs ~0.2 ms
(docs/benchmarks.md).  A file system without ``O_DIRECT`` (tmpfs) gets plain I/O.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cloudfs._buffers import Bytes

__all__ = ["ALIGN", "BlockFiles", "DirectIO", "aligned"]

T = TypeVar("T")
_TMP_SUFFIX = ".tmp"
_ID_HEX = 32
ALIGN = 4096
O_DIRECT = getattr(os, "O_DIRECT", 0)


class AlignedBuffer(threading.local):
    """One page-aligned buffer per thread for ``O_DIRECT`` transfers, grown on demand."""

    def __init__(self) -> None:
        self.buf = mmap.mmap(-1, ALIGN)

    def get(self, size: int) -> mmap.mmap:
        if len(self.buf) < size:
            self.buf.close()
            self.buf = mmap.mmap(-1, size)
        return self.buf


def aligned(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


class DirectIO:
    """``O_DIRECT`` opens and writes with the plain-I/O fallback; shared by block and slab
    files.  Thread-safe: the buffers are per thread, and ``direct`` only ever drops to 0."""

    def __init__(self) -> None:
        self.direct = O_DIRECT  # dropped to 0 if the file system refuses it
        self.buffers = AlignedBuffer()

    def open(self, path: Path, flags: int, mode: int = 0o600) -> int:
        """Open with ``O_DIRECT`` if this file system takes it (decided on first use)."""
        if self.direct:
            try:
                return os.open(path, flags | self.direct, mode)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self.direct = 0
        return os.open(path, flags, mode)

    def write_at(self, fd: int, data: Bytes, offset: int) -> int:
        """Write ``data`` at ``offset``; with ``O_DIRECT`` through the aligned buffer, padded
        with zeros to whole pages.  Returns the bytes written (padding included)."""
        if not self.direct:
            _pwrite_all(fd, memoryview(data), offset)
            return len(data)
        size = aligned(len(data))
        view = memoryview(self.buffers.get(size))
        try:
            view[: len(data)] = data
            view[len(data) : size] = bytes(size - len(data))
            _pwrite_all(fd, view[:size], offset)
        finally:
            view.release()
        return size

    def read_with(self, fd: int, offset: int, length: int, use: Callable[[memoryview], T]) -> T:
        """``use(the length bytes at offset)``, fewer if the file ends first, read into this
        thread's buffer (whole aligned pages around them with ``O_DIRECT``).  ``use`` must
        not keep the view: the buffer is reused by the next read."""
        lo, hi = offset, offset + length
        if self.direct:
            lo, hi = lo - lo % ALIGN, aligned(hi)
        view = memoryview(self.buffers.get(max(hi - lo, ALIGN)))
        try:
            done = 0
            while done < hi - lo:
                n = os.preadv(fd, [view[done : hi - lo]], lo + done)
                if n == 0:
                    break
                done += n
            skip = offset - lo
            return use(view[skip : skip + max(0, min(length, done - skip))])
        finally:
            view.release()


class BlockFiles:
    """The ``blocks/`` tree of one cache directory."""

    def __init__(self, root: Path) -> None:
        self.root = root / "blocks"
        self._io = DirectIO()

    def create_tree(self) -> None:
        """Create the 256 shard directories (once), so writes never create directories."""
        if (self.root / "ff").is_dir():
            return
        for shard in range(256):
            (self.root / f"{shard:02x}").mkdir(parents=True, exist_ok=True)
        _fsync_dir(self.root)
        _fsync_dir(self.root.parent)

    def path(self, block_id: bytes) -> Path:
        hex_id = block_id.hex()
        return self.root / hex_id[:2] / hex_id

    def read(self, block_id: bytes) -> bytes:
        """The file's bytes (``FileNotFoundError`` if it is gone)."""
        return self.read_with(block_id, bytes)

    def read_with(
        self,
        block_id: bytes,
        use: Callable[[memoryview], T],
        start: int = 0,
        length: int | None = None,
    ) -> T:
        """``use(the file's bytes)``, or ``length`` of them from ``start`` (fewer if the
        file ends first), without copying them out of the read buffer first.  ``use`` must
        not keep the view: the buffer is reused by the next read.
        """
        fd = self._io.open(self.path(block_id), os.O_RDONLY)
        try:
            if length is None:
                length = os.fstat(fd).st_size - start
            return self._io.read_with(fd, start, length, use)
        finally:
            os.close(fd)

    def _write_fd(self, fd: int, data: Bytes) -> None:
        if self._io.write_at(fd, data, 0) != len(data):
            os.ftruncate(fd, len(data))  # cut the O_DIRECT padding

    def write(self, block_id: bytes, data: Bytes, *, durable_name: bool) -> None:
        """Atomically create the block's file; ``durable_name`` makes it durable too.

        A clean block is not fsynced: after a power cut its file may be short (dropped by
        the size check on open) or hold garbage (refused by the AEAD and fetched again).
        A dirty block is the only copy, so its data and its directory entry are synced.
        """
        final = self.path(block_id)
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
        try:
            fd = self._io.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                self._write_fd(fd, data)
                if durable_name:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if durable_name:
            _fsync_dir(final.parent)

    def sync_name(self, block_id: bytes) -> None:
        """Make an existing file durable, data and name (a clean block that turned dirty)."""
        fd = os.open(self.path(block_id), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.path(block_id).parent)

    def delete(self, block_ids: list[bytes]) -> None:
        for block_id in block_ids:
            self.path(block_id).unlink(missing_ok=True)

    def scan(self) -> tuple[dict[bytes, int], int]:
        """Sizes of every block file, and how many stray files (temps, junk) were removed."""
        sizes: dict[bytes, int] = {}
        removed = 0
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard):
                block_id = _parse_id(entry.name, shard.name)
                if block_id is None or not entry.is_file(follow_symlinks=False):
                    _remove(entry.path)
                    removed += 1
                else:
                    sizes[block_id] = entry.stat(follow_symlinks=False).st_size
        return sizes, removed


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


def _parse_id(name: str, shard: str) -> bytes | None:
    if len(name) != _ID_HEX or not name.startswith(shard):
        return None
    try:
        return bytes.fromhex(name)
    except ValueError:
        return None


def _remove(path: str) -> None:
    with contextlib.suppress(IsADirectoryError, PermissionError, FileNotFoundError):
        os.unlink(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
