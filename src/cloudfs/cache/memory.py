"""MemoryCache: hot plaintext blocks in RAM, least recently used evicted first.

Bounded in bytes: a block larger than the whole cache is not kept, and every insert
evicts from the cold end until the total fits.  Blocks are immutable and named by random
ids, so an entry can never be stale: the cache needs eviction, never invalidation.
Owned by one event loop (or one thread); not thread-safe.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["MemoryCache"]


class MemoryCache:
    """Plaintext blocks by id, bounded by ``capacity_bytes``."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._blocks: OrderedDict[bytes, bytes] = OrderedDict()  # coldest first
        self.used_bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, block_id: bytes) -> bytes | None:
        """The block, marked as just used, or None."""
        data = self._blocks.get(block_id)
        if data is None:
            self.misses += 1
            return None
        self._blocks.move_to_end(block_id)
        self.hits += 1
        return data

    def put(self, block_id: bytes, data: bytes) -> None:
        """Keep a block just read or written (idempotent), evicting the coldest."""
        if block_id in self._blocks:
            self._blocks.move_to_end(block_id)
            return
        if len(data) > self.capacity_bytes:
            return
        self._blocks[block_id] = data
        self.used_bytes += len(data)
        self._shrink()

    def discard(self, block_id: bytes) -> None:
        data = self._blocks.pop(block_id, None)
        if data is not None:
            self.used_bytes -= len(data)

    def resize(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._shrink()

    def clear(self) -> None:
        self._blocks.clear()
        self.used_bytes = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._blocks

    def __len__(self) -> int:
        return len(self._blocks)

    def _shrink(self) -> None:
        while self.used_bytes > self.capacity_bytes:
            _, old = self._blocks.popitem(last=False)
            self.used_bytes -= len(old)
