"""Wrappers that make any :class:`~cloudfs.store.protocol.ObjectStore` misbehave or report.

Both wrap by composition and are themselves object stores, so they stack with each other
and with :class:`~cloudfs.store.throttled.ThrottledStore`::

    store = CountingStore(FaultyStore(open_store(config), error_rate=0.1, seed=7))

:class:`FaultyStore` injects the failures an object store really has:

- ``error_rate`` — the call fails with ``StoreUnavailableError`` *before* reaching the
  store (a refused connection, a 503);
- ``lost_replies`` — the call reaches the store and takes effect, then fails anyway (the
  reply was lost), so callers must cope with not knowing whether a put happened;
- ``torn_writes`` — a put stores a truncated prefix of the bytes, then fails.  Real S3
  PUTs are atomic; this models a store (or a bug) that is not, for tests of integrity checks;
- ``latency`` — every affected call first sleeps this many seconds;
- :meth:`FaultyStore.down` / :meth:`FaultyStore.up` — a full outage: while down every
  call (and a listing in progress) raises ``StoreUnavailableError``.

Rates are probabilities per call drawn from a private ``random.Random(seed)``, so a seeded
run is reproducible; a rate of 1.0 fails every call.  ``operations`` limits which
operations the rates and latency touch (an outage touches all).  ``close`` is never faulty.

:class:`CountingStore` records every call as a :class:`StoreCall` (operation, key, bytes
moved, success) for tests that assert how a layer above uses its store.

State of both belongs to the event loop that calls them; they are not thread-safe.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cloudfs._buffers import Bytes
from cloudfs.errors import StoreUnavailableError
from cloudfs.store.protocol import ObjectMeta, ObjectStore

__all__ = ["OPERATIONS", "CountingStore", "FaultyStore", "StoreCall"]

OPERATIONS: frozenset[str] = frozenset({"put", "get", "get_range", "head", "delete", "list"})


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1, not {value}")


class FaultyStore:
    """An object store that fails, tears writes, stalls or goes down on demand."""

    def __init__(
        self,
        inner: ObjectStore,
        *,
        error_rate: float = 0.0,
        latency: float = 0.0,
        torn_writes: float = 0.0,
        lost_replies: float = 0.0,
        operations: frozenset[str] | set[str] = OPERATIONS,
        seed: int | None = None,
    ) -> None:
        for name, rate in [
            ("error_rate", error_rate),
            ("torn_writes", torn_writes),
            ("lost_replies", lost_replies),
        ]:
            _check_rate(name, rate)
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, not {latency}")
        if unknown := set(operations) - OPERATIONS:
            raise ValueError(f"unknown operations {sorted(unknown)}; known: {sorted(OPERATIONS)}")
        self.inner = inner
        self.error_rate = error_rate
        self.latency = latency
        self.torn_writes = torn_writes
        self.lost_replies = lost_replies
        self.operations = frozenset(operations)
        self.injected = 0
        self._rng = random.Random(seed)
        self._down = False

    @property
    def description(self) -> str:
        """The wrapped store's description."""
        return self.inner.description

    @property
    def is_down(self) -> bool:
        """Whether a simulated outage is in progress."""
        return self._down

    def down(self) -> None:
        """Start an outage: every call raises ``StoreUnavailableError`` until :meth:`up`."""
        self._down = True

    def up(self) -> None:
        """End the outage."""
        self._down = False

    async def put(self, key: str, data: Bytes, *, if_absent: bool = False) -> str | None:
        """Put through the inner store, unless a fault strikes first (then maybe torn)."""
        await self._before("put", key)
        if self._strikes("put", self.torn_writes):
            await self._tear(key, data, if_absent)
        etag = await self.inner.put(key, data, if_absent=if_absent)
        self._after("put", key)
        return etag

    async def get(self, key: str) -> bytes:
        """Get through the inner store, unless a fault strikes."""
        await self._before("get", key)
        data = await self.inner.get(key)
        self._after("get", key)
        return data

    async def get_sized(self, key: str, size: int, *, start: int = 0) -> memoryview:
        """Whole-object get (a ``get`` for faults) through the inner store, unless a fault
        strikes."""
        await self._before("get", key)
        data = await self.inner.get_sized(key, size, start=start)
        self._after("get", key)
        return data

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """Ranged get through the inner store, unless a fault strikes."""
        await self._before("get_range", key)
        data = await self.inner.get_range(key, start, length)
        self._after("get_range", key)
        return data

    async def head(self, key: str) -> ObjectMeta:
        """Head through the inner store, unless a fault strikes."""
        await self._before("head", key)
        meta = await self.inner.head(key)
        self._after("head", key)
        return meta

    async def delete(self, key: str) -> None:
        """Delete through the inner store (idempotent there), unless a fault strikes."""
        await self._before("delete", key)
        await self.inner.delete(key)
        self._after("delete", key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        """List through the inner store; an outage interrupts a listing in progress."""
        await self._before("list", prefix)
        async for meta in self.inner.list(prefix):
            if self._down:
                raise self._fault("list", prefix, "outage")
            yield meta

    async def close(self) -> None:
        """Close the inner store (never faulty)."""
        await self.inner.close()

    async def _before(self, op: str, key: str) -> None:
        if self._down:
            raise self._fault(op, key, "outage")
        if op in self.operations and self.latency:
            await asyncio.sleep(self.latency)
        if self._strikes(op, self.error_rate):
            raise self._fault(op, key, "error")

    def _after(self, op: str, key: str) -> None:
        if self._strikes(op, self.lost_replies):
            raise self._fault(op, key, "lost reply (the operation took effect)")

    async def _tear(self, key: str, data: Bytes, if_absent: bool) -> None:
        size = len(memoryview(data).cast("B"))
        kept = self._rng.randrange(size) if size else 0
        await self.inner.put(key, bytes(memoryview(data).cast("B")[:kept]), if_absent=if_absent)
        raise self._fault("put", key, f"torn write ({kept} of {size} bytes stored)")

    def _strikes(self, op: str, rate: float) -> bool:
        return op in self.operations and rate > 0 and self._rng.random() < rate

    def _fault(self, op: str, key: str, what: str) -> StoreUnavailableError:
        self.injected += 1
        return StoreUnavailableError(f"{self.description}: {op} {key!r}: injected {what}", key=key)


@dataclass(frozen=True, slots=True)
class StoreCall:
    """One call seen by :class:`CountingStore`: ``nbytes`` of object data moved."""

    op: str
    key: str
    nbytes: int
    ok: bool


@dataclass(slots=True)
class _Pending:
    nbytes: int = 0


class CountingStore:
    """An object store that records every call it forwards, in order, in :attr:`calls`."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.calls: list[StoreCall] = []

    @property
    def description(self) -> str:
        """The wrapped store's description."""
        return self.inner.description

    def count(self, op: str | None = None, key: str | None = None) -> int:
        """How many calls (optionally of one operation, on one key) were made."""
        return sum(1 for c in self.calls if op in (None, c.op) and key in (None, c.key))

    def bytes_moved(self, op: str | None = None) -> int:
        """Object bytes sent or received by successful calls (optionally of one operation)."""
        return sum(c.nbytes for c in self.calls if op in (None, c.op) and c.ok)

    def reset(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()

    async def put(self, key: str, data: Bytes, *, if_absent: bool = False) -> str | None:
        """Forward and record a put."""
        with self._recording("put", key) as call:
            etag = await self.inner.put(key, data, if_absent=if_absent)
            call.nbytes = len(memoryview(data).cast("B"))
        return etag

    async def get(self, key: str) -> bytes:
        """Forward and record a get."""
        with self._recording("get", key) as call:
            data = await self.inner.get(key)
            call.nbytes = len(data)
        return data

    async def get_sized(self, key: str, size: int, *, start: int = 0) -> memoryview:
        """Forward and record a whole-object get (recorded as ``get``)."""
        with self._recording("get", key) as call:
            data = await self.inner.get_sized(key, size, start=start)
            call.nbytes = len(data)
        return data

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """Forward and record a ranged get."""
        with self._recording("get_range", key) as call:
            data = await self.inner.get_range(key, start, length)
            call.nbytes = len(data)
        return data

    async def head(self, key: str) -> ObjectMeta:
        """Forward and record a head."""
        with self._recording("head", key):
            return await self.inner.head(key)

    async def delete(self, key: str) -> None:
        """Forward and record a delete."""
        with self._recording("delete", key):
            await self.inner.delete(key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        """Forward a listing; recorded once, when it ends, under ``prefix``."""
        with self._recording("list", prefix):
            async for meta in self.inner.list(prefix):
                yield meta

    async def close(self) -> None:
        """Close the inner store (not recorded)."""
        await self.inner.close()

    @contextmanager
    def _recording(self, op: str, key: str) -> Iterator[_Pending]:
        pending = _Pending()
        ok = False
        try:
            yield pending
            ok = True
        finally:
            self.calls.append(StoreCall(op, key, pending.nbytes, ok))
