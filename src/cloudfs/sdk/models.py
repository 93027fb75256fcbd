"""The SDK's value types: configuration, identities and what filesystem calls return."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cloudfs.errors import ConfigurationError

__all__ = [
    "ClientConfig",
    "DirEntry",
    "FilespaceInfo",
    "FilespaceSize",
    "FilespaceStatistics",
    "ServiceAccountCredentials",
    "StorageConfig",
    "StorageMode",
    "StorageUsage",
    "SyncMode",
    "WorkspaceInfo",
]


class StorageMode(enum.Enum):
    """Where a client keeps its cache and local state."""

    PHYSICAL = "physical"  # a persistent folder (``root_path`` or the default state dir)
    SANDBOXED = "sandboxed"  # a private temporary folder, removed at close


class SyncMode(enum.Enum):
    SYNC_ALL = "sync_all"  # Filespace.unlink() first commits every pending change
    SYNC_NONE = "sync_none"  # unlink() drops writes still buffered in open files


@dataclass(frozen=True)
class StorageConfig:
    mode: StorageMode = StorageMode.SANDBOXED
    persist_on_exit: bool = False
    root_path: Path | None = None

    def __post_init__(self) -> None:
        if self.root_path is not None:  # accept str too
            object.__setattr__(self, "root_path", Path(self.root_path))


@dataclass(frozen=True)
class ClientConfig:
    """How a client finds its workspace and tunes itself.

    ``home`` is the embedded workspace folder (default: ``$CLOUDFS_HOME``, else
    ``~/.local/share/cloudfs``).  ``passphrase`` opens filespaces when the client is not
    logged in with a service-account token (default: ``$CLOUDFS_PASSPHRASE``).
    """

    fs_cache_size_mb: int | None = None
    home: Path | None = None
    passphrase: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.fs_cache_size_mb is not None and self.fs_cache_size_mb <= 0:
            raise ConfigurationError("fs_cache_size_mb must be a positive number of MiB")
        if self.home is not None:  # accept str too
            object.__setattr__(self, "home", Path(self.home))


@dataclass(frozen=True)
class ServiceAccountCredentials:
    """A service-account token ``sa_live:<key_id>:<secret>``; ``repr`` hides the secret."""

    token: str = field(repr=False)

    def __repr__(self) -> str:
        key_id = self.token.split(":")[1] if self.token.count(":") == 2 else "?"
        return f"ServiceAccountCredentials(key_id={key_id!r}, token=<redacted>)"


@dataclass(frozen=True)
class WorkspaceInfo:
    id: str
    name: str


@dataclass(frozen=True)
class FilespaceInfo:
    id: str
    name: str
    created: float  # seconds since the epoch


EntryType = Literal["file", "dir", "link", "unknown"]


@dataclass(frozen=True)
class DirEntry:
    """One filesystem entry.  Times are nanoseconds since the epoch."""

    name: str
    size: int
    type: EntryType
    file_id: str
    file_id_external: int
    ctime: int
    mtime: int

    def is_file(self) -> bool:
        return self.type == "file"

    def is_dir(self) -> bool:
        return self.type == "dir"

    def is_link(self) -> bool:
        return self.type == "link"


@dataclass(frozen=True)
class FilespaceSize:
    entries: int
    data: int
    storage: int
    external_files_size: int = 0
    external_files_count: int = 0


@dataclass(frozen=True)
class StorageUsage:
    """What a filespace's objects take in its store, in stored (sealed) bytes.

    ``referenced``: the blocks the block maps name.  ``unreferenced_in_packs``: what the
    packs holding those blocks hold besides — blocks rewritten or deleted since, and the
    padding between blocks — which the collector frees only with the pack's last block.
    ``garbage_objects``: how many objects no block map names wait for the collector.
    """

    referenced: int
    unreferenced_in_packs: int
    garbage_objects: int

    @property
    def total(self) -> int:
        """The live objects' bytes (garbage not included): ``storage_size``."""
        return self.referenced + self.unreferenced_in_packs


@dataclass(frozen=True)
class FilespaceStatistics:
    file_count: int
    directory_count: int
    symlink_count: int
    entries_size: int
    data_size: int
    storage_size: int
    external_files_size: int = 0
    external_files_count: int = 0
