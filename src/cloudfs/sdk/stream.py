"""FileStream: an ``io.RawIOBase`` over a VFS handle, and ``open``'s mode handling.

The raw stream keeps its own position and calls the VFS with explicit offsets, so it also
offers positional ``pread``/``pwrite``.  Its size is always asked of the VFS (never cached
here), so ``seek(0, SEEK_END)`` sees a file grown since it was opened.  ``flush`` commits
(close-to-open consistency); ``close`` commits and releases the handle.

``name`` is a ``cloudfs://`` URL, never a local-looking path, so that libraries which
treat ``f.name`` as a file on disk do not open the wrong file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from cloudfs.meta.protocol import AttrChanges
from cloudfs.vfs.core import FileHandle, Vfs

__all__ = ["FileStream", "OpenMode", "parse_mode"]

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, Any]], Any]

READALL_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OpenMode:
    """A Python ``open`` mode string, decoded."""

    flags: int
    readable: bool
    writable: bool
    binary: bool
    raw_mode: str  # the mode a raw binary stream reports, e.g. "rb+"


def parse_mode(mode: str) -> OpenMode:
    """Decode ``mode`` exactly as Python's ``open`` accepts it; ``ValueError`` otherwise."""
    chars = set(mode)
    if len(chars) != len(mode) or not chars <= set("rwxabt+") or ("b" in chars and "t" in chars):
        raise ValueError(f"invalid mode: {mode!r}")
    kinds = chars & set("rwxa")
    if len(kinds) != 1:
        raise ValueError(f"invalid mode: {mode!r} (exactly one of r, w, x, a)")
    kind = kinds.pop()
    plus = "+" in chars
    creation = {
        "r": 0,
        "w": os.O_CREAT | os.O_TRUNC,
        "x": os.O_CREAT | os.O_EXCL,
        "a": os.O_CREAT | os.O_APPEND,
    }[kind]
    readable = kind == "r" or plus
    writable = kind != "r" or plus
    access = os.O_RDWR if readable and writable else os.O_WRONLY if writable else os.O_RDONLY
    raw_mode = {"r": "rb", "w": "wb", "x": "xb", "a": "ab"}[kind] + ("+" if plus else "")
    return OpenMode(creation | access, readable, writable, "b" in chars, raw_mode)


class FileStream(io.RawIOBase):
    """A raw binary stream on one open cloudfs file."""

    def __init__(self, vfs: Vfs, handle: FileHandle, *, run: Runner, name: str, mode: str) -> None:
        super().__init__()
        self._vfs = vfs
        self._handle = handle
        self._run = run
        self._pos = handle.file.size if handle.append else 0
        self._name = name
        self._mode = mode

    @property
    def name(self) -> str:
        return self._name

    @property
    def mode(self) -> str:
        return self._mode

    def readable(self) -> bool:
        self._check_closed()
        return self._handle.readable

    def writable(self) -> bool:
        self._check_closed()
        return self._handle.writable

    def seekable(self) -> bool:
        self._check_closed()
        return True

    def _check_closed(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _size(self) -> int:
        return int(self._run(self._vfs.getattr(self._handle.file.ino)).size)

    # -- reading ---------------------------------------------------------------------------
    def readinto(self, buffer: Any) -> int:
        self._check_readable()
        view = memoryview(buffer).cast("B")
        count: int = self._run(self._vfs.readinto(self._handle.fh, self._pos, view))
        self._pos += count
        return count

    def _check_readable(self) -> None:
        self._check_closed()
        if not self._handle.readable:
            raise io.UnsupportedOperation("not readable")

    def pread(self, size: int, offset: int) -> bytes:
        """Up to ``size`` bytes at ``offset``, without moving the position."""
        self._check_readable()
        if offset < 0:
            raise ValueError("negative offset")
        data: bytes = self._run(self._vfs.read(self._handle.fh, offset, size))
        return data

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(READALL_CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)

    # -- writing ---------------------------------------------------------------------------
    def write(self, data: Any) -> int:
        self._check_closed()
        if self._handle.append:
            self._pos = self._size()
        written = self.pwrite(data, self._pos)
        self._pos += written
        return written

    def pwrite(self, data: Any, offset: int) -> int:
        """Write ``data`` at ``offset`` (at the end in append mode); keep the position."""
        self._check_closed()
        if not self._handle.writable:
            raise io.UnsupportedOperation("not writable")
        if offset < 0:
            raise ValueError("negative offset")
        return int(self._run(self._vfs.write(self._handle.fh, offset, memoryview(data))))

    def truncate(self, size: int | None = None) -> int:
        self._check_closed()
        if not self._handle.writable:
            raise io.UnsupportedOperation("not writable")
        size = self._pos if size is None else size
        if size < 0:
            raise ValueError(f"negative size value {size}")
        self._run(self._vfs.setattr(self._handle.file.ino, AttrChanges(size=size)))
        return size

    # -- positioning -----------------------------------------------------------------------
    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_closed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size() + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0:
            raise OSError(22, "Invalid argument")
        self._pos = pos
        return pos

    def tell(self) -> int:
        self._check_closed()
        return self._pos

    # -- lifecycle -------------------------------------------------------------------------
    def flush(self) -> None:
        """Commit what was written so far: durable and visible to others."""
        if self.closed:
            return
        if self._handle.writable:
            self._run(self._vfs.flush(self._handle.fh))

    def fsync(self) -> None:
        self._check_closed()
        self._run(self._vfs.fsync(self._handle.fh))

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()  # flushes
        finally:
            self._run(self._vfs.release(self._handle.fh))

    def __repr__(self) -> str:
        return f"<cloudfs.FileStream name={self._name!r} mode={self._mode!r}>"
