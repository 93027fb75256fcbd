"""Process-wide tuning for programs that move large files: keep the memory of freed block
buffers in the process instead of giving it back.

Every block read or written passes through a few buffers of its size (4 MiB by default):
the body received from the store, the plaintext, the sealed copy.  glibc's malloc serves
allocations that large from ``mmap`` or trims them off the top of its heaps as soon as
they are freed, so the next block's buffers are fresh pages: the kernel faults each one
in and zeroes it (on the VMs we measure on, with the hypervisor's cost of backing it on
top).  Raising the mmap threshold to its maximum (32 MiB) and the trim threshold to
256 MiB keeps that memory for reuse; it stays resident instead, up to the high-water
mark of what was in use (docs/decisions/0017: a cold 1 GiB read through the mount took
2.04-2.37 CPU-seconds instead of 2.36-2.65, and 17 % more MB/s).

Setting only one of the two is worse than neither: setting either turns off glibc's
dynamic adjustment of both, leaving the other at its small static default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory"]

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 256 * 1024 * 1024


OFF_VARIABLE = "CLOUDFS_KEEP_FREED_MEMORY"
"""Set to ``0`` to leave glibc's malloc as it is (to compare, or to give memory back)."""


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for this process as above; False where there is no glibc
    ``mallopt`` (musl, macOS) or ``$CLOUDFS_KEEP_FREED_MEMORY`` is ``0``, which changes
    nothing.  Idempotent.

    The ``cloudfs`` command and its mount process call this at start.  A program using
    the SDK to move large files may call it too (``cloudfs.tuning.keep_freed_memory()``);
    the SDK does not, since it changes how the whole process allocates.
    """
    name = ctypes.util.find_library("c")
    if name is None or os.environ.get(OFF_VARIABLE) == "0":
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
