"""ConnectManager: data stores and external files of one linked filespace.

``filespace.connect`` is one of these.  Every method is synchronous: it runs one
coroutine on the client's event-loop thread (like ``Filesystem``).  Before anything else
each method but :meth:`~ConnectManager.are_data_stores_available` checks that the
filespace's format supports external files and that Connect is enabled, and raises
``RuntimeError`` saying which command fixes what is missing.

Errors follow the seed: ``ValueError`` for a bad argument (the message says what to fix),
``RuntimeError`` for a missing store or file and for a link that fails (an object that
does not exist, access denied).  No message, repr or log line carries a secret key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from cloudfs.codec.descriptor import CONNECT_FORMAT_VERSION, FilespaceDescriptor
from cloudfs.connect.models import (
    DataStoreInfo,
    DataStoreKind,
    LinkedFilesResult,
    S3Credentials,
    S3DataStoreConfig,
    check_http_url,
    check_store_name,
)
from cloudfs.connect.objects import LinkedObjects, ObjectInfo, StoreSettings, http_head
from cloudfs.errors import ObjectNotFoundError, StoreAccessDeniedError, StoreError
from cloudfs.meta.connect import ConnectMetaStore, DataStoreRecord, LinkSpec, Relink
from cloudfs.meta.protocol import Inode, InodeKind
from cloudfs.vfs import paths
from cloudfs.vfs.core import Vfs

__all__ = ["ConnectManager"]

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, Any]], Any]
_CURSOR_PREFIX = "c1:"


class ConnectManager:
    """Manages Connect data stores and external file linking (``filespace.connect``)."""

    def __init__(
        self,
        vfs: Vfs,
        meta: ConnectMetaStore,
        objects: LinkedObjects,
        run: Runner,
        *,
        full_path: Callable[[str], str] = paths.normalize,
        root_path: str = "/",
    ) -> None:
        self._vfs = vfs
        self._meta = meta
        self._objects = objects
        self._run_coro = run
        self._full = full_path
        self._root = paths.normalize(root_path)
        self._available = False

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        result: T = self._run_coro(coro)
        return result

    # -- availability ----------------------------------------------------------------
    def are_data_stores_available(self) -> bool:
        """Whether the format supports external files and Connect is enabled."""
        return self._missing() is None

    def _missing(self) -> str | None:
        if self._available:
            return None
        raw, _ = self._run(self._vfs.meta.get_descriptor())
        descriptor = FilespaceDescriptor.from_bytes(raw)
        if not descriptor.supports_connect:
            return (
                f"Connect needs filespace format {CONNECT_FORMAT_VERSION} or newer; this "
                f"filespace is format {descriptor.format_version}: run `cloudfs upgrade`"
            )
        if not descriptor.connect_enabled:
            return "Connect is not enabled on this filespace: run `cloudfs connect enable`"
        self._available = True
        return None

    def _require(self) -> None:
        missing = self._missing()
        if missing is not None:
            raise RuntimeError(missing)

    # -- data stores -------------------------------------------------------------------
    def add_data_store(self, name: str, config: S3DataStoreConfig) -> DataStoreInfo:
        """Register an S3 data store; ``ValueError`` for an empty or taken name."""
        self._require()
        check_store_name(name)
        if not isinstance(config, S3DataStoreConfig):
            raise ValueError("config must be an S3DataStoreConfig")
        config.validate()
        return self._run(self._add_store(name, config))

    async def _add_store(self, name: str, config: S3DataStoreConfig) -> DataStoreInfo:
        if await self._meta.get_data_store(name) is not None:
            raise _taken(name)
        settings = StoreSettings.of(config)
        secret = self._objects.seal_secret(name, config.secret_key)
        try:
            record = await self._meta.add_data_store(
                name, DataStoreKind.S3.value, settings.to_json(), secret, "1"
            )
        except FileExistsError:
            raise _taken(name) from None
        return settings.info(record)

    def remove_data_store(self, name: str) -> None:
        """Remove a store; refuses while files are linked to it."""
        self._require()
        self._run(self._remove_store(name))

    async def _remove_store(self, name: str) -> None:
        record = await self._store(name)
        linked = await self._meta.remove_data_store(name)
        if linked:
            raise RuntimeError(
                f"data store {name!r} still has {linked:,} linked file(s): unlink them "
                "first (see `cloudfs connect ls`)"
            )
        self._objects.forget(record.id)

    def list_data_stores(self) -> list[DataStoreInfo]:
        """Every store (``secret_key`` empty)."""
        self._require()
        records = self._run(self._meta.list_data_stores())
        return [StoreSettings.from_json(r.config).info(r) for r in records]

    def get_data_store(self, name: str) -> DataStoreInfo | None:
        """A store with its decrypted ``secret_key``, or None."""
        self._require()
        record = self._run(self._meta.get_data_store(name))
        if record is None:
            return None
        settings = StoreSettings.from_json(record.config)
        return settings.info(record, self._objects.open_secret(record))

    def rekey_data_store(
        self,
        name: str,
        credentials: S3Credentials | None = None,
        *,
        new_access_key: str | None = None,
        new_secret_key: str | None = None,
    ) -> None:
        """Replace a store's credentials; the old secret is no longer stored."""
        self._require()
        if credentials is not None and (new_access_key or new_secret_key):
            raise ValueError("give either credentials= or new_access_key=/new_secret_key=")
        if credentials is None:
            if new_access_key is None and new_secret_key is None:
                raise ValueError(
                    "no credentials given: pass credentials=S3Credentials(...) or both "
                    "new_access_key= and new_secret_key="
                )
            credentials = S3Credentials(new_access_key or "", new_secret_key or "")
        credentials.validate()
        self._run(self._rekey(name, credentials))

    async def _rekey(self, name: str, credentials: S3Credentials) -> None:
        record = await self._store(name)
        old = StoreSettings.from_json(record.config)
        settings = StoreSettings(
            credentials.access_key,
            old.bucket_name,
            old.region,
            old.endpoint,
            old.url_expiration_minutes,
            old.use_virtual_addressing,
        )
        await self._meta.update_data_store(
            name,
            config=settings.to_json(),
            secret=self._objects.seal_secret(name, credentials.secret_key),
            key_id=str(int(record.key_id or "0") + 1),
            rekey_state=0,
        )
        self._objects.forget(record.id)

    async def _store(self, name: str) -> DataStoreRecord:
        record = await self._meta.get_data_store(name)
        if record is None:
            raise RuntimeError(f"no data store named {name!r} (see list_data_stores())")
        return record

    # -- linking ---------------------------------------------------------------------------
    def link_file(
        self,
        file_path: str,
        data_store_name: str,
        object_id: str,
        size: int | None = None,
        checksum: str = "",
    ) -> None:
        """Link an S3 object as a read-only file; with size and checksum, no S3 call."""
        self._require()
        if (size is None) != (not checksum):
            raise ValueError(
                "give both size and checksum (the object's ETag; no HEAD is sent) or "
                "neither (the object is HEADed)"
            )
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise ValueError(f"size must be a non-negative integer, not {size!r}")
        if not isinstance(object_id, str) or not object_id:
            raise ValueError("object_id must be the object's key, not empty")
        self._run(self._link(file_path, data_store_name, object_id, size, checksum))

    async def _link(
        self, file_path: str, store: str, key: str, size: int | None, etag: str
    ) -> None:
        record = await self._store(store)
        if size is None:
            info = await self._head(record, key, file_path)
            size, etag = info.size, info.etag
        spec = await self._spec(file_path, record.id, key, etag, size)
        await self._create([spec], file_path)

    async def _head(self, record: DataStoreRecord, key: str, file_path: str) -> ObjectInfo:
        where = StoreSettings.from_json(record.config).where(key)
        try:
            return await self._objects.head(record.id, key)
        except ObjectNotFoundError:
            raise RuntimeError(f"cannot link {file_path}: {where} does not exist") from None
        except StoreAccessDeniedError:
            raise RuntimeError(
                f"cannot link {file_path}: access to {where} was denied; check the data "
                f"store's credentials and permissions (rekey_data_store)"
            ) from None
        except StoreError as e:
            raise RuntimeError(f"cannot link {file_path}: {e}") from None

    async def _spec(
        self, file_path: str, store_id: int | None, key: str, etag: str, size: int, origin: int = 0
    ) -> LinkSpec:
        full = self._full(file_path)
        parts = paths.split(full)
        if not parts:
            raise ValueError("cannot link the root directory")
        parent = await self._ensure_dir("/" + "/".join(parts[:-1]))
        name = self._vfs._name(parent, parts[-1])
        return LinkSpec(
            parent, name, store_id, self._objects.seal_key(store_id, key), etag, size, origin
        )

    async def _create(self, specs: list[LinkSpec], file_path: str) -> list[Inode]:
        try:
            return await self._meta.link_external(specs, os.getuid(), os.getgid())
        except FileExistsError:
            raise RuntimeError(f"cannot link {file_path}: an entry exists there") from None

    async def _ensure_dir(self, full: str) -> int:
        """The directory at absolute filespace path ``full``, created with its parents."""
        current = await self._vfs.getattr(1)
        for part in paths.split(full):
            try:
                current = await self._vfs.lookup(current.ino, part)
            except FileNotFoundError:
                try:
                    current = await self._vfs.mkdir(
                        current.ino, part, 0o755, os.getuid(), os.getgid()
                    )
                except FileExistsError:
                    current = await self._vfs.lookup(current.ino, part)
            if current.kind != InodeKind.DIR:
                raise RuntimeError(f"cannot link under {full}: {part!r} is not a directory")
        return current.ino

    def link_http_file(self, file_path: str, url: str, *, size: int | None = None) -> None:
        """Link an HTTP(S) URL (e.g. a presigned URL) as a read-only file."""
        self._require()
        check_http_url(url, "url")
        self._run(self._link_http(file_path, url, size))

    async def _link_http(self, file_path: str, url: str, size: int | None) -> None:
        etag = ""
        if size is None:
            info = await self._http_head(url)
            size, etag = info.size, info.etag
        spec = await self._spec(file_path, None, url, etag, size)
        await self._create([spec], file_path)

    async def _http_head(self, url: str) -> ObjectInfo:
        self._objects.requests += 1
        return await asyncio.to_thread(http_head, url)

    def update_http_file_url(
        self, file_path: str, new_url: str, *, size: int | None = None
    ) -> None:
        """Point an HTTP link at a new URL (a renewed presigned URL, say)."""
        self._require()
        check_http_url(new_url, "new_url")
        self._run(self._update_http(file_path, new_url, size))

    async def _update_http(self, file_path: str, url: str, size: int | None) -> None:
        inode = await self._external(file_path)
        link = await self._meta.get_external(inode.ino)
        if link is None or link.store_id is not None:
            raise RuntimeError(f"{file_path} is not an HTTP link")
        etag = ""
        if size is None:
            info = await self._http_head(url)
            size, etag = info.size, info.etag
        key = self._objects.seal_key(None, url)
        await self._meta.relink_external([Relink(inode.ino, etag, size, key)])

    async def _external(self, file_path: str) -> Inode:
        try:
            inode = await paths.resolve(self._vfs, self._full(file_path), follow=False)
        except (FileNotFoundError, NotADirectoryError):
            raise RuntimeError(f"no such file: {file_path}") from None
        if not inode.external:
            raise RuntimeError(f"{file_path} is not an external file (delete it with fs.delete)")
        return inode

    def unlink_file(self, file_path: str) -> None:
        """Remove an external file's entry (never the object)."""
        self._require()
        self._run(self._unlink(file_path))

    async def _unlink(self, file_path: str) -> None:
        await self._external(file_path)
        parent, name = await paths.resolve_parent(self._vfs, self._full(file_path))
        await self._vfs.unlink(parent.ino, name)

    # -- listing -------------------------------------------------------------------------
    def list_external_files(
        self, data_store_name: str, limit: int = 100, cursor: str = ""
    ) -> LinkedFilesResult:
        """A page of files linked to a store; pass ``cursor`` back for the next one."""
        self._require()
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"limit must be a positive integer, not {limit!r}")
        after = _decode_cursor(cursor)
        return self._run(self._list(data_store_name, limit, after))

    async def _list(self, store: str, limit: int, after: int) -> LinkedFilesResult:
        record = await self._store(store)
        page = await self._meta.external_page(record.id, after, limit + 1)
        has_more = len(page) > limit
        page = page[:limit]
        steps = await self._meta.entry_paths([link.ino for link in page])
        names: dict[tuple[int, bytes], str] = {}
        file_paths: list[str] = []
        file_ids: list[int] = []
        for link in page:
            chain = steps.get(link.ino)
            if chain is None:
                continue  # unlinked while we paged
            parts = []
            for parent, blob in reversed(chain):
                if (parent, blob) not in names:
                    names[parent, blob] = self._vfs.cipher.open_name(parent, blob)
                parts.append(names[parent, blob])
            file_paths.append(self._relative("/" + "/".join(parts)))
            file_ids.append(link.id)
        next_after = page[-1].id if page else after
        return LinkedFilesResult(file_paths, file_ids, has_more, _encode_cursor(next_after))

    def _relative(self, full: str) -> str:
        if self._root == "/":
            return full
        if full == self._root:
            return "/"
        if full.startswith(self._root + "/"):
            return full[len(self._root) :]
        return full

    def count_external_files(self, data_store_name: str) -> int:
        """How many files are linked to a store (no path resolution: one row read)."""
        self._require()
        return self._run(self._count(data_store_name))

    async def _count(self, store: str) -> int:
        record = await self._store(store)
        return await self._meta.count_external(record.id)


def _taken(name: str) -> ValueError:
    return ValueError(f"a data store named {name!r} already exists: choose another name")


def _encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{after}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith(_CURSOR_PREFIX):
            value = int(text[len(_CURSOR_PREFIX) :])
            if value >= 0:
                return value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValueError("cursor is not one list_external_files returned: pass '' to start over")
