"""Client → Workspace → Filespace: the SDK's entry points.

A :class:`Client` owns a private event-loop thread and the local state folder
(:class:`StorageConfig`).  It finds its workspace through ``ClientConfig.home`` or
``$CLOUDFS_HOME`` (the embedded workspace; a hub later), logs in with a service-account
token, and links filespaces.  Linking unlocks the filespace's keys with the token (or,
when not logged in, with ``ClientConfig.passphrase`` / ``$CLOUDFS_PASSPHRASE``) and
assembles its layers; ``Filespace.fs`` is then the path-based filesystem.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cloudfs.cache.pins import Pin, PinStore
from cloudfs.connect.manager import ConnectManager
from cloudfs.errors import (
    AuthenticationError,
    ClientError,
    FilespaceAlreadyLinkedError,
)
from cloudfs.sdk._loop import LoopThread
from cloudfs.sdk.filesystem import Filesystem
from cloudfs.sdk.models import (
    ClientConfig,
    FilespaceInfo,
    ServiceAccountCredentials,
    StorageConfig,
    StorageMode,
    StorageUsage,
    SyncMode,
    WorkspaceInfo,
)
from cloudfs.vfs import paths
from cloudfs.vfs.core import Vfs, VfsOptions
from cloudfs.vfs.pinning import warm_up
from cloudfs.workspace.filespace import OpenFilespace, Secret, open_filespace
from cloudfs.workspace.registry import FilespaceRecord, Registry, Token, default_home

__all__ = ["Client", "Daemon", "Filespace", "FrontEnd", "Workspace", "create_daemon"]

_linked_lock = threading.Lock()
_linked: set[str] = set()  # ids of the filespaces linked by any Client in this process


class Client:
    """The SDK's entry point.  Use as a context manager or call :meth:`close`."""

    def __init__(
        self, *, storage: StorageConfig | None = None, config: ClientConfig | None = None
    ) -> None:
        self.storage = storage or StorageConfig()
        self.config = config or ClientConfig()
        self._registry = Registry(self.config.home or default_home())
        self._token: Token | None = None
        self._loop = LoopThread()
        self._workspaces: dict[str, Workspace] = {}
        self._closed = False
        self.state_dir = self._make_state_dir()

    def _make_state_dir(self) -> Path:
        if self.storage.mode == StorageMode.SANDBOXED and self.storage.root_path is None:
            return Path(tempfile.mkdtemp(prefix="cloudfs-client-"))
        path = self.storage.root_path or self._registry.home / "state"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    # -- identity ------------------------------------------------------------------------
    def login(self, credentials: ServiceAccountCredentials) -> None:
        """Log in with a service-account token (a no-op if already logged in with it)."""
        self._check_open()
        token = Token.parse(credentials.token)
        if self._token is not None:
            if token != self._token:
                raise AuthenticationError("already logged in with another token")
            return
        self._registry.check_token(token)
        self._token = token

    @property
    def is_logged_in(self) -> bool:
        return self._token is not None

    # -- workspaces ----------------------------------------------------------------------
    def list_workspaces(self) -> list[WorkspaceInfo]:
        self._check_open()
        if not self._registry.exists:
            return []
        return [WorkspaceInfo(self._registry.id, self._registry.name)]

    def get_workspace(self, id: str) -> Workspace:
        self._check_open()
        if id not in self._workspaces:
            if not self._registry.exists or self._registry.id != id:
                raise ClientError(f"no workspace with id {id!r} (see list_workspaces())")
            self._workspaces[id] = Workspace(self, id, self._registry.name)
        return self._workspaces[id]

    def _secret(self) -> Secret:
        if self._token is not None:
            return Secret(token=self._token)
        passphrase = self.config.passphrase or os.environ.get("CLOUDFS_PASSPHRASE")
        if passphrase is None:
            raise AuthenticationError(
                "log in with a service-account token, or give a passphrase "
                "(ClientConfig(passphrase=...) or CLOUDFS_PASSPHRASE)"
            )
        return Secret(passphrase=passphrase)

    def _vfs_options(self) -> VfsOptions:
        """The memory cache takes a quarter of ``fs_cache_size_mb`` (64 MiB at most)."""
        cache_mb = self.config.fs_cache_size_mb
        if cache_mb is None:
            return VfsOptions()
        return VfsOptions(memory_cache_bytes=min(64, max(1, cache_mb // 4)) * 1024 * 1024)

    @property
    def _cache_bytes(self) -> int | None:
        mb = self.config.fs_cache_size_mb
        return None if mb is None else mb * 1024 * 1024

    @property
    def _state_root(self) -> Path | None:
        """Where linked filespaces keep their cache and journal.

        None for a sandbox in a fresh temporary folder: no later client would replay its
        journal, so its filespaces write through (``close`` waits for the upload).
        """
        if self.storage.mode == StorageMode.SANDBOXED and self.storage.root_path is None:
            return None
        return self.state_dir / "filespaces"

    # -- lifecycle -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ClientError("the client is closed")

    def close(self) -> None:
        """Unlink every filespace (syncing per its mode), stop the loop, drop a sandbox."""
        if self._closed:
            return
        try:
            for workspace in self._workspaces.values():
                for filespace in list(workspace._filespaces.values()):
                    filespace.unlink()
        finally:
            self._closed = True
            self._loop.stop()
            sandbox = self.storage.mode == StorageMode.SANDBOXED
            if sandbox and not self.storage.persist_on_exit:
                shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._loop.stop()


class Workspace:
    """A workspace the client can reach."""

    def __init__(self, client: Client, id: str, name: str) -> None:
        self._client = client
        self.id = id
        self.name = name
        self._filespaces: dict[str, Filespace] = {}

    @property
    def linked_filespaces(self) -> list[Filespace]:
        return list(self._filespaces.values())

    def list_filespaces(self) -> list[FilespaceInfo]:
        return [FilespaceInfo(r.id, r.name, r.created) for r in self._client._registry.filespaces()]

    def link_filespace(
        self,
        name: str | None = None,
        id: str | None = None,
        root_path: str = "/",
        sync_mode: SyncMode = SyncMode.SYNC_ALL,
    ) -> Filespace:
        """Open a filespace by name or id (exactly one); the same object if already linked."""
        if (name is None) == (id is None):
            raise ValueError("give exactly one of name or id")
        self._client._check_open()
        record = self._client._registry.find(name=name, id=id)
        linked = self._filespaces.get(record.id)
        if linked is not None:
            return linked
        with _linked_lock:
            if record.id in _linked:
                raise FilespaceAlreadyLinkedError(
                    f"filespace {record.name!r} is linked by another client in this process",
                    filespace_id=record.id,
                )
            _linked.add(record.id)
        try:
            opened = self._client._loop.run(
                open_filespace(
                    self._client._registry,
                    record,
                    self._client._secret(),
                    options=self._client._vfs_options(),
                    state_root=self._client._state_root,
                    cache_bytes=self._client._cache_bytes,
                )
            )
        except BaseException:
            with _linked_lock:
                _linked.discard(record.id)
            raise
        filespace = Filespace(self, record, opened, root_path, sync_mode)
        self._filespaces[record.id] = filespace
        return filespace


@dataclass(frozen=True)
class FrontEnd:
    """What another front end serving a linked filespace in this process needs (FUSE).

    ``vfs`` is owned by ``loop``, the client's private event-loop thread: touch it only
    from coroutines run there (``asyncio.run_coroutine_threadsafe(coro, loop)``).
    ``owns_state`` is False when another process holds the filespace's state folder
    (cache and journal) and this one writes through a private cache instead.
    """

    vfs: Vfs
    loop: asyncio.AbstractEventLoop
    owns_state: bool


class Filespace:
    """A linked filespace.  ``fs`` is its filesystem."""

    def __init__(
        self,
        workspace: Workspace,
        record: FilespaceRecord,
        opened: OpenFilespace,
        root_path: str,
        sync_mode: SyncMode,
    ) -> None:
        self._workspace = workspace
        self._record = record
        self._opened = opened
        self._run = workspace._client._loop.run
        self.sync_mode = sync_mode
        self.fs = Filesystem(
            opened.vfs,
            self._run,
            root_path=root_path,
            url=f"cloudfs://{workspace.name}/{record.name}",
        )
        self.connect = ConnectManager(
            opened.vfs,
            opened.objects.meta,
            opened.objects,
            self._run,
            full_path=self.fs._full,
            root_path=root_path,
        )

    id = property(lambda self: self._record.id)
    name = property(lambda self: self._record.name)
    workspace_id = property(lambda self: self._workspace.id)
    workspace_name = property(lambda self: self._workspace.name)

    @property
    def full_name(self) -> str:
        return f"{self._workspace.name}/{self._record.name}"

    @property
    def block_size(self) -> int:
        """Bytes per block, fixed when the filespace was created."""
        return self._opened.vfs.block_size

    @property
    def is_linked(self) -> bool:
        return self._record.id in self._workspace._filespaces

    def sync_all(self) -> None:
        """Return when every pending change is durable and visible to others."""
        self._check_linked()
        self._run(self._opened.vfs.sync_all())

    def storage_usage(self) -> StorageUsage:
        """What the filespace's objects take in the store (``cloudfs info``)."""
        self._check_linked()
        stats = self._run(self._opened.vfs.meta.stats())
        return StorageUsage(stats.stored_bytes, stats.dead_bytes, stats.garbage_blocks)

    # -- the local cache ---------------------------------------------------------------------
    def pin(self, path: str) -> Pin:
        """Keep ``path`` (a file, or a folder recursively) in the local cache.

        The process that owns the cache fetches it in the background; see ``list_pins``.
        """
        self._check_linked()
        inode = self._run(paths.resolve(self._opened.vfs, self.fs._full(path)))
        pin = PinStore(self._opened.state.pins_path).add(paths.normalize(path), inode.ino)
        if self._opened.pinner is not None:
            self._opened.pinner.wake()
        return pin

    def unpin(self, path: str) -> bool:
        """Stop pinning ``path``; False if it was not pinned."""
        self._check_linked()
        found = PinStore(self._opened.state.pins_path).remove(paths.normalize(path))
        if found and self._opened.pinner is not None:
            self._opened.pinner.wake()
        return found

    def list_pins(self) -> list[Pin]:
        """The pins and how far each got: pinning, pinned, or could not pin (and why)."""
        self._check_linked()
        return PinStore(self._opened.state.pins_path).load()

    def sync_pins(self) -> list[Pin]:
        """Pin now (in this process, if it owns the cache) and return the pins' states."""
        self._check_linked()
        if self._opened.pinner is not None:
            self._run(self._opened.pinner.sync())
        return self.list_pins()

    def warm_up(self, path: str, progress: Callable[[int], None] | None = None) -> int:
        """Fetch everything at or under ``path`` into the local cache; the bytes fetched."""
        self._check_linked()
        opened = self._opened
        inode = self._run(paths.resolve(opened.vfs, self.fs._full(path)))
        _files, size = self._run(warm_up(opened.vfs, opened.state.disk, inode.ino, progress))
        return size

    def clear_cache(self) -> None:
        """Drop every clean, unpinned block from the local cache."""
        self._check_linked()
        if not self.owns_cache:
            raise ClientError("the cache is in use by another process (a mount?): clear it there")
        self._run(self._opened.state.disk.clear())

    def front_end(self) -> FrontEnd:
        """The VFS and the event loop that owns it, for a front end such as the mount."""
        self._check_linked()
        client = self._workspace._client
        return FrontEnd(self._opened.vfs, client._loop.loop, self.owns_cache)

    @property
    def owns_cache(self) -> bool:
        """False when another process has this filespace's cache (this one writes through)."""
        return not self._opened.state.write_through

    def unlink(self) -> None:
        """Close the filespace (syncing first under SYNC_ALL).  Idempotent."""
        if not self.is_linked:
            return
        drain = self.sync_mode == SyncMode.SYNC_ALL
        try:
            if drain:
                self._run(self._opened.vfs.sync_all())
        finally:
            try:
                self._run(self._opened.close(drain=drain))
            finally:
                self._forget()

    def _forget(self) -> None:
        self._workspace._filespaces.pop(self._record.id, None)
        with _linked_lock:
            _linked.discard(self._record.id)

    def _check_linked(self) -> None:
        if not self.is_linked:
            raise ClientError(f"filespace {self.name!r} is not linked")

    def __enter__(self) -> Filespace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unlink()

    def __repr__(self) -> str:
        return f"<cloudfs.Filespace {self.full_name!r} id={self.id}>"


class Daemon(Client):
    """The SDK's older entry point; use :class:`Client`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "cloudfs.Daemon is deprecated; use cloudfs.Client", DeprecationWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)


def create_daemon(
    *, storage: StorageConfig | None = None, config: ClientConfig | None = None
) -> Client:
    """Deprecated: ``cloudfs.Client(storage=..., config=...)`` does the same."""
    warnings.warn(
        "cloudfs.create_daemon() is deprecated; use cloudfs.Client()",
        DeprecationWarning,
        stacklevel=2,
    )
    return Client(storage=storage, config=config)
