"""ClientState: a client's local folder for one filespace: the disk cache and the journal.

Layout, under the client's state root (``StorageConfig``)::

    <root>/<filespace id>/lock            flock held while a process has it open
    <root>/<filespace id>/cache/          the disk cache (sealed blocks + index)
    <root>/<filespace id>/journal.sqlite  writes accepted locally, not yet committed
    <root>/<filespace id>/pins.json       pinned paths and how far pinning got

One process at a time owns a state folder (the lock).  A second process opening the same
filespace with the same root — a CLI command while a mount runs, say — gets a private
temporary folder instead and writes *through* (``close`` waits for the upload), because
a journal in a folder nobody will reopen could not keep its promise.  So does a client
with no state root at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cloudfs.cache.disk import DiskCache
from cloudfs.cache.journal import Journal

__all__ = ["DEFAULT_CACHE_BYTES", "ClientState", "default_cache_bytes"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 5 * 1024**3
"""The default disk cache: 5 GiB, or half the free space of its disk if that is less."""
MIN_CACHE_BYTES = 64 * 1024**2


def default_cache_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return max(MIN_CACHE_BYTES, min(DEFAULT_CACHE_BYTES, st.f_bavail * st.f_frsize // 2))


@dataclass
class ClientState:
    folder: Path
    disk: DiskCache
    journal: Journal
    write_through: bool
    pins_path: Path  # in the shared folder even when this process writes through
    _lock: IO[str] | None
    _temporary: bool

    @classmethod
    async def open(
        cls, root: Path | None, filespace_id: str, *, cache_bytes: int | None = None
    ) -> ClientState:
        folder, lock = _claim(root, filespace_id)
        temporary = lock is None
        try:
            capacity = cache_bytes or default_cache_bytes(folder)
            journal = await Journal.open(folder / "journal.sqlite")
            try:
                needed = {
                    ref.id for record in await journal.pending() for ref in record.blocks.values()
                }
                disk = await DiskCache.open(
                    folder / "cache", capacity_bytes=capacity, journaled=needed
                )
            except BaseException:
                await journal.close()
                raise
        except BaseException:
            _release(folder, lock, temporary)
            raise
        shared = root / filespace_id if root is not None else folder
        return cls(folder, disk, journal, temporary, shared / "pins.json", lock, temporary)

    async def close(self) -> None:
        try:
            await self.journal.close()
        finally:
            await self.disk.close()
            _release(self.folder, self._lock, self._temporary)


def _claim(root: Path | None, filespace_id: str) -> tuple[Path, IO[str] | None]:
    """The state folder and its held lock, or a private temporary folder and ``None``."""
    if root is not None:
        folder = root / filespace_id
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = open(folder / "lock", "a")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return folder, lock
        except BlockingIOError:
            lock.close()
            log.info("%s is in use by another process: writing through a private cache", folder)
    return Path(tempfile.mkdtemp(prefix=f"cloudfs-{filespace_id[:8]}-")), None


def _release(folder: Path, lock: IO[str] | None, temporary: bool) -> None:
    if lock is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    if temporary:
        shutil.rmtree(folder, ignore_errors=True)
