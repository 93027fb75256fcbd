"""The I/O priority of the calling thread (Linux): cache fills are background writes.

A block fetched for a read is written into the disk cache on the way (``_slabs``).
Nobody waits for that write, but it shares the disk with whatever does wait: the
program that reads from the mount and writes what it read to the same disk, a database,
a build.  :func:`idle_io` gives the calling thread's disk I/O the *idle* class for the
duration of a block: the kernel's I/O schedulers that know classes (mq-deadline, BFQ)
dispatch it when no other I/O is queued, and age it so that it is not starved for ever
(mq-deadline: after ``prio_aging_expire``, 10 s by default).  The disk cache bounds the
fills in flight, so a reader waits for fills only when the disk stays busy that long.

Elsewhere (another OS, an architecture without a known syscall number, a sandbox that
forbids the call) it changes nothing, and ``CLOUDFS_IDLE_CACHE_WRITES=0`` turns it off
(to compare, or for a disk whose scheduler starves idle I/O).  See docs/decisions/0021.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import sys
from collections.abc import Callable, Iterator

__all__ = ["IDLE", "OFF_VARIABLE", "current_class", "idle_io"]

OFF_VARIABLE = "CLOUDFS_IDLE_CACHE_WRITES"
"""Set to ``0`` to write cache fills at the thread's own I/O priority."""

_SYSCALLS = {  # (ioprio_set, ioprio_get)
    "x86_64": (251, 252),
    "aarch64": (30, 31),
    "riscv64": (30, 31),
    "ppc64le": (273, 274),
    "s390x": (282, 283),
}
_WHO_PROCESS = 1  # with who = 0: the calling thread
_CLASS_SHIFT = 13
IDLE = 3
"""``IOPRIO_CLASS_IDLE``."""
_IDLE_PRIO = IDLE << _CLASS_SHIFT


def _load() -> tuple[Callable[..., int], int, int] | None:
    numbers = _SYSCALLS.get(platform.machine())
    if not sys.platform.startswith("linux") or numbers is None:
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    return syscall, *numbers


_CALLS = _load()


def current_class() -> int | None:
    """The calling thread's I/O priority class (0 when none was set), None where the
    priority cannot be read."""
    if _CALLS is None:
        return None
    syscall, _, get = _CALLS
    prio = syscall(get, _WHO_PROCESS, 0)
    return None if prio < 0 else prio >> _CLASS_SHIFT


@contextlib.contextmanager
def idle_io() -> Iterator[None]:
    """The calling thread's disk I/O in the block has the idle class; the priority it
    had before is restored after."""
    if _CALLS is None or os.environ.get(OFF_VARIABLE) == "0":
        yield
        return
    syscall, set_, get = _CALLS
    before = syscall(get, _WHO_PROCESS, 0)
    if before < 0 or syscall(set_, _WHO_PROCESS, 0, _IDLE_PRIO) < 0:
        yield  # not allowed here: the write goes at the thread's priority
        return
    try:
        yield
    finally:
        syscall(set_, _WHO_PROCESS, 0, before)
