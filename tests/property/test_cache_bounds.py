"""Model-based test of the disk cache's promises.

Hypothesis runs random put_clean / put_dirty / mark_clean / discard / pin / unpin / get /
set_capacity / reopen (a clean close or a kill) against :class:`DiskCache` and checks
after every step that:

* used bytes never exceed ``max(capacity, dirty + pinned bytes)``;
* no dirty or pinned block is ever dropped (the model knows which must be there);
* ``get`` returns exactly the bytes put, or None for a block that may have been evicted;
* the bytes on disk add up to what the cache says it uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from tests.unit.cache.conftest import abandon, footprint

from cloudfs.cache import DiskCache, NotCachedError, PinLimitError

IDS = [hashlib.md5(bytes([i])).digest() for i in range(12)]
SIZES = st.integers(min_value=1, max_value=3000)
ids = st.sampled_from(IDS)


def content(block_id: bytes, size: int) -> bytes:
    return (block_id * (size // 16 + 1))[:size]


class CacheBounds(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name) / "cache"
        self.cache = self.run(DiskCache.open(self.root, capacity_bytes=8000))
        self.sizes: dict[bytes, int] = {}  # the size each id was first put with
        self.dirty: set[bytes] = set()
        self.pins: dict[bytes, int] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.cache.close())
        finally:
            self.loop.close()
            self.tmp.cleanup()

    def data(self, block_id: bytes, size: int) -> bytes:
        return content(block_id, self.sizes.setdefault(block_id, size))

    @rule(block_id=ids, size=SIZES)
    def put_clean(self, block_id: bytes, size: int) -> None:
        self.run(self.cache.put_clean(block_id, self.data(block_id, size)))

    @rule(block_id=ids, size=SIZES)
    def put_dirty(self, block_id: bytes, size: int) -> None:
        data = self.data(block_id, size)
        if self.cache._tally.dirty_bytes + len(data) > self.cache.dirty_limit:
            self.run(self.cache.mark_clean(list(self.dirty)))  # it would wait for this
            self.dirty.clear()
        self.run(self.cache.put_dirty(block_id, data))
        self.dirty.add(block_id)

    @rule(block_id=ids)
    def mark_clean(self, block_id: bytes) -> None:
        self.run(self.cache.mark_clean([block_id]))
        self.dirty.discard(block_id)

    @rule(block_id=ids)
    def discard(self, block_id: bytes) -> None:
        self.run(self.cache.discard([block_id]))
        self.dirty.discard(block_id)
        self.pins.pop(block_id, None)

    @rule(block_id=ids)
    def pin(self, block_id: bytes) -> None:
        try:
            self.run(self.cache.pin([block_id]))
        except (NotCachedError, PinLimitError):
            return
        self.pins[block_id] = self.pins.get(block_id, 0) + 1

    @rule(block_id=ids)
    def unpin(self, block_id: bytes) -> None:
        self.run(self.cache.unpin([block_id]))
        if self.pins.get(block_id, 0) > 1:
            self.pins[block_id] -= 1
        else:
            self.pins.pop(block_id, None)

    @rule(block_id=ids)
    def get(self, block_id: bytes) -> None:
        got = self.run(self.cache.get(block_id))
        if block_id in self.dirty or block_id in self.pins:
            assert got is not None
        assert got is None or got == content(block_id, self.sizes[block_id])

    @rule(capacity=st.integers(min_value=1000, max_value=20000))
    def set_capacity(self, capacity: int) -> None:
        self.run(self.cache.set_capacity(capacity))

    @rule(kill=st.booleans())
    def reopen(self, kill: bool) -> None:
        if kill:
            abandon(self.cache)
        else:
            self.run(self.cache.close())
        self.cache = self.run(DiskCache.open(self.root, capacity_bytes=8000))
        assert self.cache.open_report.lost_dirty == ()

    @invariant()
    def within_bound_and_nothing_locked_lost(self) -> None:
        u = self.run(self.cache.usage())
        assert u.used <= max(u.capacity, u.dirty_bytes + u.pinned_bytes)
        assert set(self.run(self.cache.dirty_ids())) == self.dirty
        for block_id in self.dirty | set(self.pins):
            assert self.run(self.cache.is_cached(block_id))
        assert u.pinned_count == len(self.pins)
        on_disk, expected = footprint(self.cache)
        assert on_disk == expected


CacheBounds.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCacheBounds = CacheBounds.TestCase
