"""Build a real VFS for tests: real codec, real SQLite engine, any object store."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.layout import PACK_BYTES
from cloudfs.cache.disk import DiskCache
from cloudfs.cache.journal import Journal
from cloudfs.codec.crypto import NameCipher, SecretBox
from cloudfs.codec.envelope import BlockCodec
from cloudfs.codec.keys import Subkeys
from cloudfs.meta.sqlite import SqliteMetaStore
from cloudfs.store.config import MemoryStoreConfig
from cloudfs.store.obstore_backend import open_store
from cloudfs.store.protocol import ObjectStore
from cloudfs.vfs.core import Vfs, VfsOptions
from cloudfs.vfs.names import Cipher

SMALL_BLOCK = 64 * 1024


class MemoryDiskCache:
    """An in-memory stand-in for the disk cache, for unit tests of the layers above."""

    def __init__(self) -> None:
        self.blocks: dict[bytes, bytes] = {}
        self.dirty: set[bytes] = set()

    def __contains__(self, block_id: object) -> bool:
        return block_id in self.blocks

    async def get(self, block_id: bytes, *, count: bool = True) -> bytes | None:
        return self.blocks.get(block_id)

    async def get_with(
        self,
        block_id: bytes,
        use: Callable[[memoryview], bytes],
        *,
        count: bool = True,
        start: int = 0,
        length: int | None = None,
    ) -> bytes | None:
        sealed = self.blocks.get(block_id)
        if sealed is None:
            return None
        end = len(sealed) if length is None else start + length
        return use(memoryview(sealed)[start:end])

    async def put_clean(self, block_id: bytes, sealed: bytes) -> bool:
        self.blocks[block_id] = sealed
        return True

    def reserve_fill(self, block_id: bytes, size: int) -> Any:
        return None if block_id in self.blocks else [block_id, None]

    def write_fill(self, fill: Any, sealed: bytes | memoryview) -> None:
        fill[1] = bytes(sealed)

    def end_fill(self, fill: Any) -> None:
        if fill[1] is not None:
            self.blocks[fill[0]] = fill[1]

    async def settle_fills(self) -> None:
        pass  # end_fill commits at once

    async def put_dirty(self, block_id: bytes, sealed: bytes) -> None:
        self.blocks[block_id] = sealed
        self.dirty.add(block_id)

    async def mark_clean(self, ids: Iterable[bytes]) -> None:
        self.dirty.difference_update(ids)

    async def discard(self, ids: Iterable[bytes]) -> None:
        for block_id in ids:
            self.blocks.pop(block_id, None)
            self.dirty.discard(block_id)

    async def dirty_ids(self) -> list[bytes]:
        return list(self.dirty)

    dirty_limit = 1 << 40


async def make_vfs_with_cache(
    store: ObjectStore | None = None,
    *,
    state_dir: Path,
    capacity: int = 256 * 1024 * 1024,
    **kwargs: Any,
) -> Vfs:
    """Like :func:`make_vfs`, with the real disk cache and journal in ``state_dir``."""
    disk = await DiskCache.open(state_dir / "cache", capacity_bytes=capacity)
    journal = await Journal.open(state_dir / "journal.sqlite")
    return await make_vfs(store, disk=disk, journal=journal, **kwargs)


async def make_vfs(
    store: ObjectStore | None = None,
    *,
    block_size: int = SMALL_BLOCK,
    meta_path: str = ":memory:",
    master: bytes | None = None,
    filespace_id: bytes | None = None,
    options: VfsOptions | None = None,
    disk: Any = None,
    journal: Journal | None = None,
    pack_bytes: int = PACK_BYTES,
) -> Vfs:
    """A formatted filespace's VFS over ``store`` (a memory store by default).

    Without ``disk``/``journal`` it uses an in-memory stand-in for the disk cache and an
    in-memory journal (unit tests of the layers above); see :func:`make_vfs_with_cache`.
    Neighbouring blocks are packed as in a format-4 filespace unless ``pack_bytes`` is 0.
    """
    store = store or open_store(MemoryStoreConfig())
    master = master or secrets.token_bytes(32)
    filespace_id = filespace_id or secrets.token_bytes(16)
    keys = Subkeys.derive(master, filespace_id)
    meta = await SqliteMetaStore.open(meta_path)
    try:
        await meta.get_descriptor()
    except FileNotFoundError:
        await meta.format(b"{}", block_size=block_size, root_mode=0o755, uid=0, gid=0)
    codec = BlockCodec(keys.data, filespace_id)
    blocks = BlockStore(store, codec, block_size, pack_bytes=pack_bytes)
    cipher = Cipher(NameCipher(keys.names), SecretBox(keys.secrets))
    vfs = Vfs(
        meta,
        blocks,
        cipher,
        disk=disk or MemoryDiskCache(),
        journal=journal or await Journal.open(":memory:"),
        options=options,
    )
    await vfs.start()
    return vfs


async def close_vfs(vfs: Vfs, *, drain: bool = True) -> None:
    await vfs.close(drain=drain)
    await vfs.queue.journal.close()
    if isinstance(vfs.disk, DiskCache):
        await vfs.disk.close()
    await vfs.meta.close()
    await vfs.blocks.store.close()
