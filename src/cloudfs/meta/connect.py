"""What Connect (external files) needs of a metadata engine: data stores and links.

A separate capability interface beside :class:`~cloudfs.meta.protocol.MetaStore`, so that
engines and test doubles that serve only the filesystem need not implement it.  Every
method is one transaction, as in ``MetaStore``.

* A **data store** row holds a name, the non-secret configuration (opaque JSON text) and
  the secret key already sealed by the caller: the engine never sees a secret.
* An **external link** ties a regular-file inode (``Inode.external`` = 1) to an object:
  the data store, the object key (sealed by the caller), the ETag the content is pinned
  to and the size.  A link is named by its inode number, which is never reused and
  increases, so it pages lists.
  Purging the inode drops its link; per-store totals are kept by every change so that
  counting never scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cloudfs.meta.protocol import Inode

__all__ = [
    "ConnectMetaStore",
    "DataStoreRecord",
    "ExternalLink",
    "LinkSpec",
    "PathStep",
    "Relink",
]


@dataclass(frozen=True, slots=True)
class DataStoreRecord:
    id: int
    name: str
    kind: str
    config: str  # JSON, no secret
    secret: bytes = b""  # sealed by the caller; never in a repr
    key_id: str = ""
    rekey_state: int = 0
    created_ns: int = 0

    def __repr__(self) -> str:
        return f"DataStoreRecord(id={self.id}, name={self.name!r}, kind={self.kind!r})"


@dataclass(frozen=True, slots=True)
class ExternalLink:
    ino: int  # also the link's id (``file_id_external``): inode numbers are never reused
    store_id: int | None  # None: an HTTP link
    object_key: bytes  # sealed by the caller
    etag: str
    size: int
    origin: int = 0  # the import destination directory that made it (0: linked by hand)

    @property
    def id(self) -> int:
        return self.ino


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A new external file: entry ``name`` (already sealed) in directory ``parent``."""

    parent: int
    name: bytes
    store_id: int | None
    object_key: bytes
    etag: str
    size: int
    origin: int = 0


@dataclass(frozen=True, slots=True)
class Relink:
    """Point an existing external file at a new version of its object."""

    ino: int
    etag: str
    size: int
    object_key: bytes | None = None  # a new key or URL (sealed), or keep the old one


PathStep = tuple[int, bytes]  # (parent directory, sealed name): one step up from an inode


@runtime_checkable
class ConnectMetaStore(Protocol):
    async def add_data_store(
        self, name: str, kind: str, config: str, secret: bytes, key_id: str
    ) -> DataStoreRecord:
        """Register a store.  ``FileExistsError`` if ``name`` is taken."""
        ...

    async def get_data_store(self, name: str) -> DataStoreRecord | None: ...

    async def get_data_store_by_id(self, store_id: int) -> DataStoreRecord | None: ...

    async def list_data_stores(self) -> list[DataStoreRecord]: ...

    async def update_data_store(
        self, name: str, *, config: str, secret: bytes, key_id: str, rekey_state: int
    ) -> None:
        """Replace a store's configuration and sealed secret.  ``FileNotFoundError``."""
        ...

    async def remove_data_store(self, name: str) -> int:
        """Remove the store if no file is linked to it; return how many are (0: removed).

        ``FileNotFoundError`` if there is no such store.
        """
        ...

    async def link_external(self, specs: Sequence[LinkSpec], uid: int, gid: int) -> list[Inode]:
        """Create one read-only external file per spec, all in one transaction.

        ``FileExistsError`` if a name is taken (nothing is created then).
        """
        ...

    async def relink_external(self, changes: Sequence[Relink]) -> None:
        """Pin external files to new object versions (size, ETag), in one transaction."""
        ...

    async def unlink_external(self, inos: Sequence[int]) -> int:
        """Remove every entry of these external files and purge them; how many went."""
        ...

    async def get_external(self, ino: int) -> ExternalLink | None: ...

    async def external_page(
        self, store_id: int, after: int, limit: int, origin: int | None = None
    ) -> list[ExternalLink]:
        """Links of a store with id > ``after``, in id order (of one ``origin`` if given)."""
        ...

    async def entry_paths(self, inos: Sequence[int]) -> dict[int, list[PathStep]]:
        """For each inode, the steps from it up to the root (nearest first)."""
        ...

    async def count_external(self, store_id: int) -> int:
        """How many files are linked to a store (one row read, no scan)."""
        ...

    async def external_totals(self) -> tuple[int, int]:
        """External files in the filespace and the sum of their sizes."""
        ...
