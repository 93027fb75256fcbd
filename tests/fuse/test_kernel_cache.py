"""The kernel's caches over the mount: pages kept across opens of an unchanged file and
dropped when it changed through another path; flock and fcntl locks between processes."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuse.mounting import Mount, fuse_only
from tests.fuse.test_lifecycle import sdk

pytestmark = fuse_only

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident(path: Path) -> float:
    """Open ``path`` and return the share of its pages in the page cache (mincore)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            pages = -(-size // mmap.PAGESIZE)
            vec = ctypes.create_string_buffer(pages)
            assert _libc.mincore(addr, size, vec) == 0, os.strerror(ctypes.get_errno())
            return sum(b & 1 for b in vec.raw) / pages
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def test_pages_kept_while_unchanged_and_dropped_after_a_change(mount: Mount) -> None:
    f = mount.path / "cached"
    with open(f, "wb") as out:
        out.write(b"a" * 1024 * 1024)
        os.fsync(out.fileno())  # committed: the version is final before the close
    assert f.read_bytes() == b"a" * 1024 * 1024
    assert resident(f) == 1.0  # re-opened unchanged: the kernel kept its pages
    assert resident(f) == 1.0
    with sdk(mount.home) as fs:  # another process of this machine, writing through
        fs.fs.write_file("/cached", b"b" * (1024 * 1024 + 4096))
    assert resident(f) < 0.5  # changed since the last open: pages dropped at open
    assert f.read_bytes() == b"b" * (1024 * 1024 + 4096)  # and the new size is seen at once
    assert resident(f) == 1.0


_HOLDER = """
import fcntl, sys
f = open(sys.argv[1], "r+b")
if sys.argv[2] == "flock":
    fcntl.flock(f, fcntl.LOCK_EX)
else:
    fcntl.lockf(f, fcntl.LOCK_EX, 10, 0)
print("locked", flush=True)
sys.stdin.readline()
"""


def _hold(path: Path, kind: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    holder.communicate("\n", timeout=10)


@pytest.mark.parametrize("kind", ["flock", "fcntl"])
def test_locks_between_processes(mount: Mount, kind: str) -> None:
    path = mount.path / "locked"
    path.write_bytes(bytes(100))
    holder = _hold(path, kind)
    try:
        with open(path, "r+b") as f:
            if kind == "flock":
                with pytest.raises(BlockingIOError):
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                with pytest.raises(OSError) as info:
                    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
                assert info.value.errno in (errno.EAGAIN, errno.EACCES)
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 10)  # another byte range
                fcntl.lockf(f, fcntl.LOCK_UN, 10, 10)
            _release(holder)
            if kind == "flock":
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
            else:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
                fcntl.lockf(f, fcntl.LOCK_UN, 10, 0)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
