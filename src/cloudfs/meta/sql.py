"""The SQL metadata engine: every :class:`MetaStore` method, once, for every SQL database.

How it is put together (after JuiceFS ``pkg/meta/base.go`` + ``sql_*.go``):

* The filesystem logic is synchronous functions ``op(tx, ...)`` over a
  :class:`~cloudfs.meta._sql_tx.Tx` (a cursor plus bookkeeping), split by concern:
  ``_sql_namespace`` (entries, attributes), ``_sql_rename``, ``_sql_data`` (block maps,
  truncation, garbage), ``_sql_xattr`` and ``_sql_admin`` (format, descriptor, purging,
  statistics, change log).  They never await, so one operation is one uninterrupted run
  of Python against one connection, whatever the engine.
* :class:`SqlMetaStore` is the asyncio face: each method hands one function and its
  arguments to :meth:`SqlMetaStore._transact`, which an engine shim implements by running
  it in a transaction on a connection owned by a worker thread (SQLite:
  :mod:`cloudfs.meta.sqlite`; PostgreSQL: a pool of threads with ``SERIALIZABLE`` and a
  retry on serialization failure).  A shim also supplies its :class:`Dialect` and
  classifies its driver's errors; nothing else differs between engines.
* Read-only methods say so (``write=False``) so an engine may take a lighter transaction.

A call cancelled while its transaction runs may still commit: the worker finishes the
transaction whatever happens to the awaiting coroutine, and an operation is atomic either
way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from cloudfs.meta import _sql_admin as admin
from cloudfs.meta import _sql_connect as connect
from cloudfs.meta import _sql_data as data
from cloudfs.meta import _sql_namespace as ns
from cloudfs.meta import _sql_xattr as xattr
from cloudfs.meta._sql_rename import rename as _rename
from cloudfs.meta._sql_tx import Dialect, Tx
from cloudfs.meta.connect import (
    ConnectMetaStore,
    DataStoreRecord,
    ExternalLink,
    LinkSpec,
    PathStep,
    Relink,
)
from cloudfs.meta.protocol import (
    AttrChanges,
    BlockRef,
    Change,
    DirEntry,
    Garbage,
    Inode,
    InodeKind,
    MetaStats,
    MetaStore,
    RenameFlags,
    XattrFlags,
)

__all__ = ["Dialect", "SqlMetaStore", "Tx"]

T = TypeVar("T")
P = ParamSpec("P")


class SqlMetaStore:
    """:class:`~cloudfs.meta.protocol.MetaStore` over SQL; subclasses supply transactions.

    The subclass owns the connection(s) and the thread(s) that use them; this class holds
    no state of its own.
    """

    async def _transact(self, op: Callable[[Tx], T], *, write: bool) -> T:
        """Run ``op(tx)`` in one transaction and return its result.

        Commit when it returns, roll back when it raises (and re-raise).  ``write=False``
        promises that ``op`` only reads.
        """
        raise NotImplementedError

    async def _write(
        self, op: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._transact(lambda tx: op(tx, *args, **kwargs), write=True)

    async def _read(
        self, op: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._transact(lambda tx: op(tx, *args, **kwargs), write=False)

    # -- lifecycle and filespace-wide settings ---------------------------------------
    async def format(
        self, descriptor: bytes, *, block_size: int, root_mode: int, uid: int, gid: int
    ) -> None:
        await self._write(admin.format_, descriptor, block_size, root_mode, uid, gid)

    async def get_descriptor(self) -> tuple[bytes, int]:
        return await self._read(admin.get_descriptor)

    async def put_descriptor(self, descriptor: bytes, *, expected_version: int) -> int:
        return await self._write(admin.put_descriptor, descriptor, expected_version)

    async def block_size(self) -> int:
        return await self._read(data.block_size)

    async def close(self) -> None:
        raise NotImplementedError

    # -- namespace ------------------------------------------------------------------
    async def lookup(self, parent: int, name: bytes) -> Inode:
        return await self._read(ns.lookup, parent, name)

    async def getattr(self, ino: int) -> Inode:
        return await self._read(ns.getattr_, ino)

    async def setattr(
        self, ino: int, changes: AttrChanges, *, expected_version: int | None = None
    ) -> Inode:
        return await self._write(ns.setattr, ino, changes, expected_version)

    async def mknod(
        self,
        parent: int,
        name: bytes,
        kind: InodeKind,
        mode: int,
        uid: int,
        gid: int,
        *,
        target: bytes | None = None,
    ) -> Inode:
        return await self._write(ns.mknod, parent, name, kind, mode, uid, gid, target)

    async def link(self, ino: int, new_parent: int, new_name: bytes) -> Inode:
        return await self._write(ns.link, ino, new_parent, new_name)

    async def unlink(self, parent: int, name: bytes) -> Inode:
        return await self._write(ns.unlink, parent, name)

    async def rmdir(self, parent: int, name: bytes) -> Inode:
        return await self._write(ns.rmdir, parent, name)

    async def rename(
        self,
        old_parent: int,
        old_name: bytes,
        new_parent: int,
        new_name: bytes,
        flags: RenameFlags = RenameFlags.NONE,
    ) -> Inode | None:
        return await self._write(_rename, old_parent, old_name, new_parent, new_name, flags)

    async def readdir(self, parent: int, after: int = 0, limit: int = 1000) -> list[DirEntry]:
        return await self._read(ns.readdir, parent, after, limit)

    async def readdir_plus(
        self, parent: int, after: int = 0, limit: int = 1000
    ) -> list[tuple[DirEntry, Inode]]:
        """``readdir`` with each entry's attributes, in one transaction.

        Listing through ``readdir`` + one ``getattr`` per entry costs a round trip per
        entry (about 1 s for 10,000 entries even on embedded SQLite).
        """
        return await self._read(ns.readdir_plus, parent, after, limit)

    async def readlink(self, ino: int) -> bytes:
        return await self._read(ns.readlink, ino)

    # -- data -----------------------------------------------------------------------
    async def get_blocks(self, ino: int, first: int, count: int) -> dict[int, BlockRef]:
        return await self._read(data.get_blocks, ino, first, count)

    async def commit_write(
        self,
        ino: int,
        *,
        size: int,
        blocks: Mapping[int, BlockRef],
        mtime_ns: int,
        expected_version: int | None = None,
    ) -> Inode:
        return await self._write(
            data.commit_write, ino, size, dict(blocks), mtime_ns, expected_version
        )

    # -- extended attributes ---------------------------------------------------------
    async def get_xattr(self, ino: int, name: bytes) -> bytes:
        return await self._read(xattr.get_xattr, ino, name)

    async def set_xattr(
        self, ino: int, name: bytes, value: bytes, flags: XattrFlags = XattrFlags.NONE
    ) -> None:
        await self._write(xattr.set_xattr, ino, name, value, flags)

    async def list_xattrs(self, ino: int) -> list[bytes]:
        return await self._read(xattr.list_xattrs, ino)

    async def remove_xattr(self, ino: int, name: bytes) -> None:
        await self._write(xattr.remove_xattr, ino, name)

    # -- housekeeping ----------------------------------------------------------------
    async def purge(self, ino: int) -> bool:
        return await self._write(admin.purge, ino)

    async def purge_orphans(self) -> int:
        return await self._write(admin.purge_orphans)

    async def take_garbage(self, limit: int = 1000) -> list[Garbage]:
        return await self._read(admin.take_garbage, limit)

    async def forget_garbage(self, ids: list[bytes]) -> None:
        await self._write(admin.forget_garbage, list(ids))

    async def stats(self) -> MetaStats:
        return await self._read(admin.stats)

    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        return await self._read(admin.changes_since, seq, limit)

    async def last_seq(self) -> int:
        return await self._read(admin.last_seq)

    # -- Connect: data stores and external links --------------------------------------
    async def add_data_store(
        self, name: str, kind: str, config: str, secret: bytes, key_id: str
    ) -> DataStoreRecord:
        return await self._write(connect.add_data_store, name, kind, config, secret, key_id)

    async def get_data_store(self, name: str) -> DataStoreRecord | None:
        return await self._read(connect.get_data_store, name)

    async def get_data_store_by_id(self, store_id: int) -> DataStoreRecord | None:
        return await self._read(connect.get_data_store_by_id, store_id)

    async def list_data_stores(self) -> list[DataStoreRecord]:
        return await self._read(connect.list_data_stores)

    async def update_data_store(
        self, name: str, *, config: str, secret: bytes, key_id: str, rekey_state: int
    ) -> None:
        await self._write(connect.update_data_store, name, config, secret, key_id, rekey_state)

    async def remove_data_store(self, name: str) -> int:
        return await self._write(connect.remove_data_store, name)

    async def link_external(self, specs: Sequence[LinkSpec], uid: int, gid: int) -> list[Inode]:
        return await self._write(connect.link_external, list(specs), uid, gid)

    async def relink_external(self, changes: Sequence[Relink]) -> None:
        await self._write(connect.relink_external, list(changes))

    async def unlink_external(self, inos: Sequence[int]) -> int:
        return await self._write(connect.unlink_external, list(inos))

    async def get_external(self, ino: int) -> ExternalLink | None:
        return await self._read(connect.get_external, ino)

    async def external_page(
        self, store_id: int, after: int, limit: int, origin: int | None = None
    ) -> list[ExternalLink]:
        return await self._read(connect.external_page, store_id, after, limit, origin)

    async def entry_paths(self, inos: Sequence[int]) -> dict[int, list[PathStep]]:
        return await self._read(connect.entry_paths, list(inos))

    async def count_external(self, store_id: int) -> int:
        return await self._read(connect.store_count, store_id)

    async def external_totals(self) -> tuple[int, int]:
        return await self._read(connect.external_totals)


if TYPE_CHECKING:

    def _implements_the_protocol(store: SqlMetaStore) -> MetaStore:
        return store  # mypy checks every method's signature against MetaStore here

    def _implements_connect(store: SqlMetaStore) -> ConnectMetaStore:
        return store
