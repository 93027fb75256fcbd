"""ExternalFetcher through a store outage: the same bounded wait as native blocks.

The source is an in-memory stand-in for ``cloudfs.connect`` (the real one is exercised
against moto and Ceph in tests/integration); what is tested here is the fetcher's waiting.
"""

from __future__ import annotations

import asyncio
import errno

import pytest

from cloudfs.cache.memory import MemoryCache
from cloudfs.errors import IntegrityError, StoreUnavailableError
from cloudfs.meta.connect import ExternalLink
from cloudfs.vfs.external import ExternalFetcher

BLOCK = 4096
DATA = bytes(range(256)) * 40  # 10,240 bytes: three blocks
LINK = ExternalLink(ino=7, store_id=1, object_key=b"k", etag="e", size=len(DATA))
HANG = 10.0  # seconds: still running after this is a hang, not a bounded wait


class FlakySource:
    """Fails the first ``failures`` reads as unreachable, then answers."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def link(self, ino: int) -> ExternalLink | None:
        return LINK if ino == LINK.ino else None

    async def read_range(self, link: ExternalLink, start: int, length: int) -> bytes:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.calls <= self.failures:
            raise StoreUnavailableError("connection refused", key="k")
        return DATA[start : start + length]


def fetcher(source: FlakySource, wait: float) -> ExternalFetcher:
    return ExternalFetcher(source, block_size=BLOCK, memory=MemoryCache(1 << 20), store_wait=wait)


async def test_a_short_outage_is_ridden_out() -> None:
    source = FlakySource(failures=3)
    got = await asyncio.wait_for(fetcher(source, 10.0).get(LINK, 1), HANG)
    assert got == DATA[BLOCK : 2 * BLOCK]
    assert source.calls == 4


async def test_a_long_outage_ends_in_eio_after_the_wait() -> None:
    source = FlakySource(failures=1_000_000)
    with pytest.raises(StoreUnavailableError) as info:
        await asyncio.wait_for(fetcher(source, 0.3).get(LINK, 0), HANG)
    assert info.value.errno == errno.EIO
    assert "external file 7 block 0" in str(info.value)
    assert source.calls >= 2  # retried, then gave up


async def test_readers_of_one_block_share_the_wait() -> None:
    source = FlakySource(failures=2)
    f = fetcher(source, 10.0)
    results = await asyncio.wait_for(asyncio.gather(*(f.get(LINK, 2) for _ in range(5))), HANG)
    assert results == [DATA[2 * BLOCK :]] * 5
    assert source.calls == 3


async def test_a_changed_object_fails_at_once() -> None:
    source = FlakySource(error=IntegrityError("the object changed since it was linked"))
    with pytest.raises(IntegrityError):
        await asyncio.wait_for(fetcher(source, 10.0).get(LINK, 0), HANG)
    assert source.calls == 1  # not an outage: no retry
