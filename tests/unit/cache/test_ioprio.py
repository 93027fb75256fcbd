"""Cache fills write at the idle I/O priority; dirty blocks and everything else do not."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from cloudfs._buffers import Bytes
from cloudfs.cache import DiskCache
from cloudfs.cache._files import DirectIO
from cloudfs.cache._ioprio import IDLE, OFF_VARIABLE, current_class, idle_io
from tests.unit.cache.conftest import KIB, block

pytestmark = pytest.mark.skipif(current_class() is None, reason="no ioprio_get here")


def test_idle_io_sets_the_idle_class_for_the_block_and_restores_it() -> None:
    before = current_class()
    assert before != IDLE
    with idle_io():
        assert current_class() == IDLE
    assert current_class() == before
    with pytest.raises(RuntimeError), idle_io():
        raise RuntimeError("a failed write")
    assert current_class() == before


def test_idle_io_is_per_thread() -> None:
    inside, seen = threading.Event(), threading.Event()
    classes: list[int | None] = []

    def other() -> None:
        inside.wait()
        classes.append(current_class())
        seen.set()

    thread = threading.Thread(target=other)
    thread.start()
    with idle_io():
        inside.set()
        seen.wait()
    thread.join()
    assert len(classes) == 1
    assert classes[0] != IDLE


def test_the_variable_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OFF_VARIABLE, "0")
    before = current_class()
    with idle_io():
        assert current_class() == before


def spy_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """Every cache write, as (the folder of the file written, the I/O class it went at)."""
    writes: list[tuple[str, int | None]] = []
    original = DirectIO.write_at

    def write_at(self: DirectIO, fd: int, data: Bytes, offset: int) -> int:
        writes.append((Path(os.readlink(f"/proc/self/fd/{fd}")).parent.name, current_class()))
        return original(self, fd, data, offset)

    monkeypatch.setattr(DirectIO, "write_at", write_at)
    return writes


async def test_fills_and_clean_puts_go_idle_dirty_blocks_do_not(
    cache: DiskCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = spy_writes(monkeypatch)
    fetched, put, dirty = block(8 * KIB), block(8 * KIB), block(8 * KIB)
    fill = cache.reserve_fill(fetched[0], len(fetched[1]))
    assert fill is not None
    await asyncio.to_thread(cache.write_fill, fill, fetched[1])
    cache.end_fill(fill)
    await cache.put_clean(*put)
    await cache.put_dirty(*dirty)  # the only copy of a write: someone waits for it
    slabs = [c for folder, c in writes if folder == "slabs"]
    others = [c for folder, c in writes if folder != "slabs"]
    assert slabs == [IDLE, IDLE]
    assert others  # the dirty block, from the worker that wrote the clean one
    assert IDLE not in others
    for bid, data in (fetched, put, dirty):
        assert await cache.get(bid) == data
