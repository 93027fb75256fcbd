"""Block files of the disk cache: names, crash-safe writes, the start-up scan.

Layout under the cache root::

    blocks/<first 2 hex digits>/<32 hex digits>     one sealed block, exactly as stored
    blocks/<xx>/.<32 hex>.<random>.tmp              a write in progress

A block is written to a temporary file in its final directory, fsynced and renamed over
its final name, so a name in ``blocks/`` only ever holds a whole block (after a crash,
at worst an old temp file is left over; :func:`scan` removes those).  A dirty block also
fsyncs the directory, which makes the rename itself survive a power cut.  All functions
here block; the cache runs them in threads.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["BlockFiles"]

_TMP_SUFFIX = ".tmp"
_ID_HEX = 32


class BlockFiles:
    """The ``blocks/`` tree of one cache directory."""

    def __init__(self, root: Path) -> None:
        self.root = root / "blocks"

    def create_tree(self) -> None:
        """Create the 256 shard directories (once), so writes never create directories."""
        if (self.root / "ff").is_dir():
            return
        for shard in range(256):
            (self.root / f"{shard:02x}").mkdir(parents=True, exist_ok=True)
        _fsync_dir(self.root)
        _fsync_dir(self.root.parent)

    def path(self, block_id: bytes) -> Path:
        hex_id = block_id.hex()
        return self.root / hex_id[:2] / hex_id

    def read(self, block_id: bytes) -> bytes:
        """The file's bytes (``FileNotFoundError`` if it is gone)."""
        with open(self.path(block_id), "rb") as f:
            return f.read()

    def write(self, block_id: bytes, data: bytes, *, durable_name: bool) -> None:
        """Atomically create the block's file; ``durable_name`` makes it durable too.

        A clean block is not fsynced: after a power cut its file may be short (dropped by
        the size check on open) or hold garbage (refused by the AEAD and fetched again).
        A dirty block is the only copy, so its data and its directory entry are synced.
        """
        final = self.path(block_id)
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                if durable_name:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if durable_name:
            _fsync_dir(final.parent)

    def sync_name(self, block_id: bytes) -> None:
        """Make an existing file durable, data and name (a clean block that turned dirty)."""
        fd = os.open(self.path(block_id), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.path(block_id).parent)

    def delete(self, block_ids: list[bytes]) -> None:
        for block_id in block_ids:
            self.path(block_id).unlink(missing_ok=True)

    def scan(self) -> tuple[dict[bytes, int], int]:
        """Sizes of every block file, and how many stray files (temps, junk) were removed."""
        sizes: dict[bytes, int] = {}
        removed = 0
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard):
                block_id = _parse_id(entry.name, shard.name)
                if block_id is None or not entry.is_file(follow_symlinks=False):
                    _remove(entry.path)
                    removed += 1
                else:
                    sizes[block_id] = entry.stat(follow_symlinks=False).st_size
        return sizes, removed


def _parse_id(name: str, shard: str) -> bytes | None:
    if len(name) != _ID_HEX or not name.startswith(shard):
        return None
    try:
        return bytes.fromhex(name)
    except ValueError:
        return None


def _remove(path: str) -> None:
    with contextlib.suppress(IsADirectoryError, PermissionError, FileNotFoundError):
        os.unlink(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
