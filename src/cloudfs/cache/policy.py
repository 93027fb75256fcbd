"""Eviction policies: which cached block to drop next.

A policy only orders ids; the cache owns the bytes, the sizes it trusts and the rules
about what may go.  The interface is five calls:

* ``insert(id, size)`` when a block enters the cache, ``access(id)`` on a hit,
  ``remove(id)`` when the cache drops a block for its own reasons (discard, lost file);
* ``victims(evictable)`` yields ids in eviction order.  Each id is *already removed*
  from the policy when it is yielded: the caller must drop it, and simply stops iterating
  once it has room.  Ids for which ``evictable(id)`` is false (dirty or pinned blocks) are
  never yielded; the policy keeps them and moves on, so the iteration ends once only such
  ids remain;
* ``resize(capacity)`` tells the policy the cache's size in bytes (S3-FIFO sizes its
  queues from it).

Two policies:

* :class:`LruPolicy`: least recently used first.  A single scan larger than the cache
  flushes it completely: every block of the scan is newer than every block of the
  working set.
* :class:`S3FifoPolicy` (Yang et al., "FIFO queues are all you need for cache
  eviction", SOSP 2023).  New blocks enter a *small* FIFO (10 % of the bytes); a block
  that reaches the small queue's tail without having been read again is evicted and
  remembered (id only) in a *ghost* FIFO; one that was read again moves to the *main*
  FIFO.  The main FIFO is a 2-bit clock: a block at its tail with a non-zero frequency is
  reinserted at the head with the frequency decremented, one with zero is evicted.  A
  block inserted while its id is still in the ghost goes straight to main.  A scan
  therefore only ever churns the small queue: blocks read once never displace the
  working set in main.  ``benchmarks/cache_policy.py`` measures both; see
  ``docs/decisions/0007-cache-eviction-policy.md``.

Policies are plain data structures with O(1) amortised operations, owned by whoever owns
the cache (one event loop); they are not thread-safe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Protocol

from cloudfs.errors import ConfigurationError

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "EvictionPolicy",
    "LruPolicy",
    "S3FifoPolicy",
    "make_policy",
]

Evictable = Callable[[bytes], bool]


class EvictionPolicy(Protocol):
    """Orders cached block ids for eviction (see the module docstring)."""

    def insert(self, block_id: bytes, size: int) -> None:
        """Track a block that entered the cache (a no-op if already tracked)."""

    def access(self, block_id: bytes) -> None:
        """Record a hit (a no-op for an untracked id)."""

    def remove(self, block_id: bytes) -> None:
        """Forget a block the cache dropped by itself (a no-op for an untracked id)."""

    def victims(self, evictable: Evictable) -> Iterator[bytes]:
        """Ids to evict, best first; each is removed from the policy as it is yielded."""

    def resize(self, capacity: int) -> None:
        """The cache's capacity in bytes changed."""

    def __contains__(self, block_id: object) -> bool: ...

    def __len__(self) -> int: ...


class LruPolicy:
    """Least recently used first."""

    def __init__(self, capacity: int) -> None:
        self._order: OrderedDict[bytes, int] = OrderedDict()  # oldest first

    def insert(self, block_id: bytes, size: int) -> None:
        self._order.setdefault(block_id, size)

    def access(self, block_id: bytes) -> None:
        if block_id in self._order:
            self._order.move_to_end(block_id)

    def remove(self, block_id: bytes) -> None:
        self._order.pop(block_id, None)

    def victims(self, evictable: Evictable) -> Iterator[bytes]:
        skipped = 0  # consecutive kept ids: a full round of them means nothing is left
        while self._order and skipped < len(self._order):
            block_id = next(iter(self._order))
            if evictable(block_id):
                del self._order[block_id]
                skipped = 0
                yield block_id
            else:  # kept blocks go to the young end, so the next search starts past them
                self._order.move_to_end(block_id)
                skipped += 1

    def resize(self, capacity: int) -> None:
        pass

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._order

    def __len__(self) -> int:
        return len(self._order)


class _Entry:
    __slots__ = ("freq", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.freq = 0


class S3FifoPolicy:
    """S3-FIFO: small FIFO, main FIFO (2-bit clock), ghost FIFO of evicted ids."""

    SMALL_FRACTION = 0.10
    MAX_FREQ = 3  # two bits

    def __init__(self, capacity: int) -> None:
        self._small: OrderedDict[bytes, _Entry] = OrderedDict()  # tail (oldest) first
        self._main: OrderedDict[bytes, _Entry] = OrderedDict()
        self._ghost: OrderedDict[bytes, int] = OrderedDict()
        self._small_bytes = self._ghost_bytes = 0
        self.resize(capacity)

    def resize(self, capacity: int) -> None:
        self._small_target = int(capacity * self.SMALL_FRACTION)
        self._ghost_limit = capacity - self._small_target  # as many bytes as main holds
        self._trim_ghost()

    def insert(self, block_id: bytes, size: int) -> None:
        if block_id in self:
            return
        remembered = self._ghost.pop(block_id, None)
        if remembered is not None:
            self._ghost_bytes -= remembered
            self._main[block_id] = _Entry(size)
        else:
            self._small[block_id] = _Entry(size)
            self._small_bytes += size

    def access(self, block_id: bytes) -> None:
        entry = self._small.get(block_id) or self._main.get(block_id)
        if entry is not None and entry.freq < self.MAX_FREQ:
            entry.freq += 1

    def remove(self, block_id: bytes) -> None:
        entry = self._small.pop(block_id, None)
        if entry is not None:
            self._small_bytes -= entry.size
        else:
            self._main.pop(block_id, None)

    def victims(self, evictable: Evictable) -> Iterator[bytes]:
        while True:
            victim = None
            if self._small_bytes >= self._small_target:
                victim = self._evict_small(evictable)
            if victim is None:
                victim = self._evict_main(evictable)
            if victim is None:
                victim = self._evict_small(evictable)  # main had nothing; small is below target
            if victim is None:
                return
            yield victim

    def _evict_small(self, evictable: Evictable) -> bytes | None:
        """Promote read-again (or kept) blocks from the small tail; evict the first other."""
        while self._small:
            block_id, entry = self._small.popitem(last=False)
            self._small_bytes -= entry.size
            if entry.freq == 0 and evictable(block_id):
                self._remember_ghost(block_id, entry.size)
                return block_id
            entry.freq = 0
            self._main[block_id] = entry
        return None

    def _evict_main(self, evictable: Evictable) -> bytes | None:
        """2-bit clock over main: reinsert with freq - 1 until a zero-freq block turns up."""
        kept = 0  # consecutive unevictable blocks; a full round of them ends the search
        while self._main and kept < len(self._main):
            block_id, entry = self._main.popitem(last=False)
            if not evictable(block_id):
                kept += 1
            elif entry.freq == 0:
                return block_id
            else:
                entry.freq -= 1
                kept = 0
            self._main[block_id] = entry
        return None

    def _remember_ghost(self, block_id: bytes, size: int) -> None:
        self._ghost[block_id] = size
        self._ghost_bytes += size
        self._trim_ghost()

    def _trim_ghost(self) -> None:
        while self._ghost and self._ghost_bytes > self._ghost_limit:
            _, size = self._ghost.popitem(last=False)
            self._ghost_bytes -= size

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._small or block_id in self._main

    def __len__(self) -> int:
        return len(self._small) + len(self._main)


POLICIES: dict[str, Callable[[int], EvictionPolicy]] = {
    "lru": LruPolicy,
    "s3fifo": S3FifoPolicy,
}
DEFAULT_POLICY = "s3fifo"  # chosen by benchmarks/cache_policy.py, see ADR 0007


def make_policy(name: str, capacity: int) -> EvictionPolicy:
    """The policy called ``name`` (``"lru"`` or ``"s3fifo"``) for ``capacity`` bytes."""
    try:
        return POLICIES[name](capacity)
    except KeyError:
        known = ", ".join(sorted(POLICIES))
        raise ConfigurationError(f"unknown cache policy {name!r} (known: {known})") from None
