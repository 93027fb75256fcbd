"""Slab files of the disk cache: clean blocks in fixed-size slots, no file per block.

Layout under the cache root::

    slabs/<pages>.slab      slot ``n`` holds one sealed block at ``n * pages * 4096``

A block goes to the slab of its size rounded up to whole 4 KiB pages (so a slot wastes
less than a page, as a file of its own would), at a slot the cache allocates
(:class:`SlotAllocator`); the index row names the slot.  Writing a fetched block is then
one ``pwrite`` into a file that is already open: no inode to create, no rename, no
directory lock.  On the VMs we measure on (ext4 without a journal), creating a file costs
~0.2–0.9 ms of CPU, most of it the allocator skipping recently deleted inodes, which was
the largest single cost of filling the cache on a cold read (docs/benchmarks.md, ADR 13).

Only clean blocks live here.  Their slots are written without ``fsync``: after a power
cut a slot may hold an older block or zeros, which the AEAD refuses (the block id is
bound into every block), so the caller discards it and fetches again.  A slot is reused
only after the index transaction that dropped its previous block committed, so two rows
never name one slot.  A freed slot is punched out of the file (``fallocate``), so the
files hold about as many bytes as the cache accounts for.  Dirty blocks, the only copy
of acknowledged writes, stay in files of their own (:mod:`cloudfs.cache._files`).

Reads and writes use ``O_DIRECT`` where the file system takes it, like block files.
Writes go at the idle I/O priority (ADR 21): the disk serves the I/O someone waits for
first.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import heapq
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cloudfs._buffers import Bytes
from cloudfs.cache._files import ALIGN, DirectIO, aligned
from cloudfs.cache._ioprio import idle_io

__all__ = ["SlabFiles", "SlotAllocator", "pages_for"]

T = TypeVar("T")
_SUFFIX = ".slab"
_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02


def pages_for(size: int) -> int:
    """The slab (slot size in 4 KiB pages) a sealed block of ``size`` bytes goes to."""
    return max(1, aligned(size) // ALIGN)


class SlabFiles:
    """The ``slabs/`` folder of one cache directory; thread-safe (positional I/O)."""

    def __init__(self, root: Path) -> None:
        self.root = root / "slabs"
        self._fds: dict[int, int] = {}
        self._lock = threading.Lock()
        self._io = DirectIO()

    def path(self, pages: int) -> Path:
        return self.root / f"{pages}{_SUFFIX}"

    def create_dir(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def write(self, pages: int, slot: int, data: Bytes) -> None:
        """Write a block into its slot (not synced: a clean block can be fetched again),
        at the idle I/O priority: nobody waits for it (:mod:`cloudfs.cache._ioprio`)."""
        fd = self._fd(pages)
        with idle_io():
            self._io.write_at(fd, data, slot * pages * ALIGN)

    def read_with(
        self, pages: int, slot: int, use: Callable[[memoryview], T], start: int, length: int
    ) -> T:
        """``use(length bytes of the slot from start)``, fewer if the file ends first (after
        a crash).  ``use`` must not keep the view: the buffer is reused by the next read."""
        return self._io.read_with(self._fd(pages), slot * pages * ALIGN + start, length, use)

    def free(self, slots: list[tuple[int, int]]) -> None:
        """Give the disk space of these ``(pages, slot)`` back (best effort)."""
        for pages, slot in slots:
            _punch_hole(self._fd(pages), slot * pages * ALIGN, pages * ALIGN)

    def lengths(self) -> dict[int, int]:
        """The size of every slab file, by slot size in pages; junk files are removed."""
        sizes: dict[int, int] = {}
        if not self.root.is_dir():
            return sizes
        for entry in os.scandir(self.root):
            pages = _parse_name(entry.name)
            if pages is None or not entry.is_file(follow_symlinks=False):
                with contextlib.suppress(IsADirectoryError, PermissionError, FileNotFoundError):
                    os.unlink(entry.path)
                continue
            sizes[pages] = entry.stat(follow_symlinks=False).st_size
        return sizes

    def trim(self, ends: dict[int, int]) -> None:
        """Cut each slab file after its last slot in use (``ends``: pages -> slot count);
        slab files not named are removed."""
        for pages, size in self.lengths().items():
            keep = ends.get(pages, 0) * pages * ALIGN
            if keep == 0:
                self._forget(pages)
                self.path(pages).unlink(missing_ok=True)
            elif size > keep:
                os.truncate(self.path(pages), keep)

    def close(self) -> None:
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def _forget(self, pages: int) -> None:
        with self._lock:
            fd = self._fds.pop(pages, None)
        if fd is not None:
            os.close(fd)

    def _fd(self, pages: int) -> int:
        fd = self._fds.get(pages)
        if fd is not None:
            return fd
        with self._lock:
            fd = self._fds.get(pages)
            if fd is None:
                fd = self._io.open(self.path(pages), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
                self._fds[pages] = fd
            return fd


class SlotAllocator:
    """Which slots of each slab are taken.  Owned by the cache's event loop.

    Free slots are reused lowest first, so slab files stay compact and :meth:`ends`
    lets the start-up trim cut their tails.
    """

    def __init__(self) -> None:
        self._free: dict[int, list[int]] = {}
        self._end: dict[int, int] = {}

    @classmethod
    def from_taken(cls, taken: list[tuple[int, int]]) -> SlotAllocator:
        """The allocator for a cache whose rows hold these ``(pages, slot)``."""
        allocator = cls()
        used: dict[int, set[int]] = {}
        for pages, slot in taken:
            used.setdefault(pages, set()).add(slot)
        for pages, slots in used.items():
            end = max(slots) + 1
            allocator._end[pages] = end
            allocator._free[pages] = [s for s in range(end) if s not in slots]  # sorted: a heap
        return allocator

    def take(self, pages: int) -> int:
        free = self._free.get(pages)
        if free:
            return heapq.heappop(free)
        slot = self._end.get(pages, 0)
        self._end[pages] = slot + 1
        return slot

    def give(self, pages: int, slot: int) -> None:
        heapq.heappush(self._free.setdefault(pages, []), slot)

    def ends(self) -> dict[int, int]:
        """Per slab, one past its highest slot ever taken."""
        return dict(self._end)


def _parse_name(name: str) -> int | None:
    stem, dot, suffix = name.partition(".")
    if "." + suffix != _SUFFIX or not dot or not stem.isdigit() or stem != str(int(stem)):
        return None
    pages = int(stem)
    return pages if pages > 0 else None


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fallocate.restype = ctypes.c_int
    return fallocate


_fallocate = _load_fallocate()


def _punch_hole(fd: int, offset: int, length: int) -> None:
    """Deallocate a byte range (reads then give zeros); a file system without hole
    punching keeps the bytes, which only costs disk space until the slot is reused."""
    if _fallocate is not None:
        _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length)
