"""The object-store interface every layer above talks to.

Small on purpose: cloudfs stores immutable objects (blocks, descriptors) and reads them
whole or by range.  Every implementation raises only :class:`cloudfs.errors.StoreError`
subclasses, with the backend's exception kept as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from cloudfs._buffers import Bytes

__all__ = ["ObjectMeta", "ObjectStore"]


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What a store says about one object."""

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None


@runtime_checkable
class ObjectStore(Protocol):
    """An object store: flat keys (``/``-separated by convention) to immutable bytes.

    Keys are non-empty ``/``-separated segments without empty, ``.`` or ``..`` segments;
    a key the store cannot hold unchanged raises ``ValueError`` before any I/O.
    """

    @property
    def description(self) -> str:
        """Where this store lives, for messages (never includes a secret)."""
        ...

    async def put(self, key: str, data: Bytes, *, if_absent: bool = False) -> str | None:
        """Store ``data`` under ``key`` and return its ETag when the store gives one.

        Idempotent for the same bytes.  With ``if_absent`` the put fails with
        ``ObjectExistsError`` when the key exists (atomic where the store supports it).
        """
        ...

    async def get(self, key: str) -> bytes:
        """The whole object.  ``ObjectNotFoundError`` if it does not exist."""
        ...

    async def get_sized(self, key: str, size: int, *, start: int = 0) -> memoryview:
        """The object (or its ``size`` bytes from ``start``: a part of a pack), known from
        metadata to hold them, in one request, as a read-only view of the received
        buffer: no copy.  The bulk read path (blocks).

        Fewer bytes if the object is shorter, its first ``size`` if longer: the caller
        authenticates what it gets.  ``ObjectNotFoundError`` if it does not exist.
        """
        ...

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (fewer only at the end of the object).

        ``b""`` for a zero ``length`` or a ``start`` at or past the end;
        ``ObjectNotFoundError`` if the object does not exist.
        """
        ...

    async def head(self, key: str) -> ObjectMeta:
        """Size and ETag without the data.  ``ObjectNotFoundError`` if missing."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object.  Idempotent: deleting a missing key succeeds."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        """Every object whose key starts with ``prefix``, paging transparently.

        A plain string prefix (``a/b`` matches ``a/bc``); the order is unspecified.
        """
        ...

    async def close(self) -> None:
        """Release connections.  Idempotent."""
        ...
