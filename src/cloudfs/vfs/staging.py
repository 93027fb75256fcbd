"""Staging: seal a block and keep it, dirty, in the disk cache until the queue uploads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from cloudfs._buffers import Bytes
from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.ref import BlockRef

__all__ = ["DirtyStore", "Staging", "Uploads"]


class DirtyStore(Protocol):
    """What staging needs of the disk cache."""

    async def put_dirty(self, block_id: bytes, sealed: Bytes) -> None: ...

    async def discard(self, ids: Iterable[bytes]) -> None: ...


class Uploads(Protocol):
    """What staging tells the upload queue (``UploadQueue.offer`` and ``forget``)."""

    def offer(self, block_id: bytes, sealed: Bytes) -> None: ...

    def forget(self, ids: Iterable[bytes]) -> None: ...


class Staging:
    def __init__(self, blocks: BlockStore, disk: DirtyStore, uploads: Uploads) -> None:
        self.blocks = blocks
        self.disk = disk
        self.uploads = uploads

    async def stage(self, data: bytes | bytearray | memoryview) -> BlockRef:
        """Seal ``data`` under a new id; durable in the disk cache when this returns (and
        offered to the upload queue while it is still in memory)."""
        ref, sealed = await self.blocks.seal(data)
        await self.disk.put_dirty(ref.id, sealed)
        self.uploads.offer(ref.id, sealed)
        return ref

    async def discard(self, ref: BlockRef) -> None:
        """Drop a staged block no record will name."""
        self.uploads.forget([ref.id])
        await self.disk.discard([ref.id])
