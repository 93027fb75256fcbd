"""Staging: seal a block and keep it, dirty, in the disk cache until the queue uploads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.ref import BlockRef

__all__ = ["DirtyStore", "Staging"]


class DirtyStore(Protocol):
    """What staging needs of the disk cache."""

    async def put_dirty(self, block_id: bytes, sealed: bytes | bytearray) -> None: ...

    async def discard(self, ids: Iterable[bytes]) -> None: ...


class Staging:
    def __init__(self, blocks: BlockStore, disk: DirtyStore) -> None:
        self.blocks = blocks
        self.disk = disk

    async def stage(self, data: bytes | bytearray | memoryview) -> BlockRef:
        """Seal ``data`` under a new id; durable in the disk cache when this returns."""
        ref, sealed = await self.blocks.seal(data)
        await self.disk.put_dirty(ref.id, sealed)
        return ref

    async def discard(self, ref: BlockRef) -> None:
        """Drop a staged block no record will name."""
        await self.disk.discard([ref.id])
