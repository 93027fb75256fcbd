from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudfs.cache import DiskCache

KIB = 1024


def block(size: int = 4 * KIB) -> tuple[bytes, bytes]:
    return secrets.token_bytes(16), secrets.token_bytes(size)


def abandon(cache: DiskCache) -> None:
    """Leave a cache as kill -9 would: no flush, no close (only the lock is let go)."""
    cache._closed = True
    if cache._housekeeper is not None:
        cache._housekeeper.cancel()
    cache._worker.stop()
    cache._slabs.close()
    os.close(cache._lock_fd)


def damage(cache: DiskCache, block_id: bytes, how: str) -> None:
    """Damage a cached block where it lies (its own file or its slot in a slab):
    ``truncate`` it to 100 bytes, ``flip`` one bit, or ``zero`` it (a punched slot)."""
    where = cache.where(block_id)
    assert where is not None
    path, offset, size = where
    with open(path, "r+b") as f:
        if how == "flip":
            f.seek(offset + 50)
            byte = f.read(1)[0]
            f.seek(offset + 50)
            f.write(bytes([byte ^ 1]))
        elif how == "zero":
            f.seek(offset)
            f.write(bytes(size))
        elif offset == 0:
            f.truncate(100)
        else:  # a slot cannot be cut short: what the file ends with is a later slot
            f.seek(offset + 100)
            f.write(bytes(size - 100))


def _data_bytes(path: Path) -> int:
    """Bytes of a file that are data, not holes (``st_blocks`` also counts extent blocks)."""
    total = pos = 0
    with open(path, "rb") as f:
        end = os.fstat(f.fileno()).st_size
        while pos < end:
            try:
                start = os.lseek(f.fileno(), pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            pos = os.lseek(f.fileno(), start, os.SEEK_HOLE)
            total += pos - start
    return total


def footprint(cache: DiskCache) -> tuple[int, int]:
    """(bytes the cache's files hold on disk, bytes its entries account for): block files
    by size, slab files by allocated pages (freed slots are punched out), each slab entry
    rounded up to whole 4 KiB pages."""
    files = sum(p.stat().st_size for p in (cache.root / "blocks").rglob("*") if p.is_file())
    slabs = sum(_data_bytes(p) for p in (cache.root / "slabs").glob("*.slab"))
    expected = 0
    for block_id in list(cache._entries):
        where = cache.where(block_id)
        assert where is not None
        path, _, size = where
        expected += size if path.parent.name != "slabs" else -(-size // 4096) * 4096
    return files + slabs, expected


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[DiskCache]:
    c = await DiskCache.open(tmp_path / "c", capacity_bytes=64 * KIB)
    yield c
    await c.close()
