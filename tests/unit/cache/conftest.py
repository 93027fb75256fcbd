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
    os.close(cache._lock_fd)


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[DiskCache]:
    c = await DiskCache.open(tmp_path / "c", capacity_bytes=64 * KIB)
    yield c
    await c.close()
