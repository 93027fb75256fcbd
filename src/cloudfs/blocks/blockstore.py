"""BlockStore: the codec over an object store.

``put`` seals (compress, then encrypt with the block id bound in) and uploads one block
under a fresh random id and returns its :class:`~cloudfs.meta.protocol.BlockRef`; ``get``
downloads and opens it, refusing anything that fails authentication.  ``get_frames``
reads part of a framed (version-2, uncompressed) block with one ranged GET of only the
frames a small read touches.  With ``pack_bytes`` (filespace format 4), neighbouring
blocks of one commit go up together as one pack object (``upload_pack``) and come back
together (``download_run``); each keeps its own envelope, bound to its own id, so a pack
is only a way to move several blocks in one request (ADR 20).  Sealing and opening
run in worker threads (zstd and AES-GCM release the GIL), so the event loop only moves
bytes.  An object is written once and never overwritten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from cloudfs._buffers import Bytes
from cloudfs.blocks.layout import (
    blocks_per_pack,
    new_block_id,
    object_key,
    pack_key,
    pack_offsets,
)
from cloudfs.blocks.ref import BlockRef
from cloudfs.codec.envelope import FrameRange, frame_range, framed_size
from cloudfs.errors import IntegrityError, ObjectNotFoundError
from cloudfs.store.protocol import ObjectStore

__all__ = ["BlockCodecLike", "BlockStore"]


class BlockCodecLike(Protocol):
    def seal(self, block_id: bytes, plaintext: bytes | memoryview) -> bytes | bytearray: ...

    def open(self, block_id: bytes, sealed: bytes | memoryview, *, max_size: int) -> bytes: ...

    def open_frames(
        self, block_id: bytes, stored: bytes | memoryview, frames: FrameRange
    ) -> bytes: ...


class BlockStore:
    """Stores and fetches sealed blocks of one filespace."""

    def __init__(
        self, store: ObjectStore, codec: BlockCodecLike, block_size: int, *, pack_bytes: int = 0
    ) -> None:
        self.store = store
        self.codec = codec
        self.block_size = block_size
        # Blocks i with the same i // pack_span that one commit uploads share a pack.
        self.pack_span = blocks_per_pack(block_size, pack_bytes) if pack_bytes else 1

    def pack_groups(self, blocks: Mapping[int, BlockRef]) -> list[list[BlockRef]]:
        """``blocks`` (a commit's new refs by index) in upload order: runs of consecutive
        indices within one pack span go up as one pack, the rest one object each.
        Deterministic, so a replay after a crash writes the same objects again."""
        groups: list[list[BlockRef]] = []
        last = -2
        for index in sorted(blocks):
            same = index == last + 1 and index // self.pack_span == last // self.pack_span
            if same and self.pack_span > 1:
                groups[-1].append(blocks[index])
            else:
                groups.append([blocks[index]])
            last = index
        return groups

    @staticmethod
    def pack_runs(refs: Iterable[BlockRef]) -> list[list[BlockRef]]:
        """``refs`` (in order) as what one request each fetches: consecutive refs in one
        pack at rising offsets together (:meth:`download_run`), every other ref alone."""
        runs: list[list[BlockRef]] = []
        for ref in refs:
            last = runs[-1][-1] if runs else None
            if last and ref.pack is not None and ref.pack == last.pack and ref.offset > last.offset:
                runs[-1].append(ref)
            else:
                runs.append([ref])
        return runs

    async def download_refs(self, run: Sequence[BlockRef]) -> list[bytes | memoryview]:
        """The sealed blocks of one of :meth:`pack_runs`, by one request."""
        if len(run) == 1:
            return [await self.download(run[0])]
        return list(await self.download_run(run))

    async def put(self, data: bytes | bytearray | memoryview) -> BlockRef:
        """Seal and upload ``data`` (at most one block) under a new id."""
        ref, sealed = await self.seal(data)
        await self.upload(ref, sealed)
        return ref

    async def seal(
        self, data: bytes | bytearray | memoryview
    ) -> tuple[BlockRef, bytes | bytearray]:
        """Compress and encrypt ``data`` under a new id (CPU only, in a worker thread).

        Split from :meth:`upload` so callers can bound CPU work and network requests
        separately: sealing the next block overlaps the uploads of the previous ones.
        """
        block_id = new_block_id()
        sealed = await asyncio.to_thread(self.codec.seal, block_id, memoryview(data))
        return BlockRef(id=block_id, size=len(data), stored=len(sealed)), sealed

    async def upload(self, ref: BlockRef, sealed: Bytes) -> None:
        """Store a sealed block under its id (idempotent)."""
        await self.store.put(object_key(ref.id), sealed)

    async def upload_pack(
        self, refs: Sequence[BlockRef], sealed: Sequence[Bytes]
    ) -> list[BlockRef]:
        """Store sealed blocks as one pack, named by the first one's id (idempotent: the
        same blocks make the same pack); their refs, pointing into it."""
        offsets = pack_offsets([len(s) for s in sealed], self.block_size)
        parts: list[Bytes] = []
        end = 0
        for offset, data in zip(offsets, sealed, strict=True):
            parts += [bytes(offset - end), data]  # zeros up to the block's boundary
            end = offset + len(data)
        pack = refs[0].id
        await self.store.put(pack_key(pack), b"".join(parts))  # one copy, no zero-fill
        return [
            replace(ref, pack=pack, offset=offset)
            for ref, offset in zip(refs, offsets, strict=True)
        ]

    async def get(self, ref: BlockRef) -> bytes:
        """The block's valid plaintext (``ref.size`` bytes at most), from the store."""
        return await self.unseal(ref, await self.download(ref))

    async def download(self, ref: BlockRef) -> bytes | memoryview:
        """The sealed object (a view of the received buffer when its stored size is known).
        Missing is an :class:`IntegrityError`: metadata named it."""
        if ref.pack is not None:
            return (await self.download_run([ref]))[0]
        try:
            if ref.stored <= 0:
                return await self.store.get(object_key(ref.id))
            # One byte more than written: an object that grew is refused too, not read
            # up to the size that authenticates.
            sealed = await self.store.get_sized(object_key(ref.id), ref.stored + 1)
        except ObjectNotFoundError as e:
            raise IntegrityError(f"block {ref.id.hex()} is missing from the store") from e
        if len(sealed) != ref.stored:
            held = "more" if len(sealed) > ref.stored else str(len(sealed))
            raise IntegrityError(
                f"block {ref.id.hex()}: the store holds {held} bytes, {ref.stored} were written"
            )
        return sealed

    async def download_run(self, refs: Sequence[BlockRef]) -> list[memoryview]:
        """The sealed blocks of ``refs`` — in one pack, in order of offset — by one ranged
        GET from the first to the end of the last (padding between them included)."""
        first, last = refs[0], refs[-1]
        assert first.pack is not None, "not a packed block"
        length = last.offset + last.stored - first.offset
        try:
            data = await self.store.get_sized(pack_key(first.pack), length, start=first.offset)
        except ObjectNotFoundError as e:
            raise IntegrityError(f"pack {first.pack.hex()} is missing from the store") from e
        if len(data) != length:
            raise IntegrityError(
                f"pack {first.pack.hex()}: the store holds {first.offset + len(data)} bytes,"
                f" at least {first.offset + length} were written"
            )
        return [data[r.offset - first.offset : r.offset - first.offset + r.stored] for r in refs]

    @staticmethod
    def frames_for(ref: BlockRef, start: int, end: int) -> FrameRange | None:
        """The frames holding plaintext ``[start, end)`` of ``ref``, or None to read it whole.

        Only an uncompressed version-2 block can be read in part; its stored size says so
        (``framed_size``: a compressed or version-1 block is always smaller).  A guess that
        is wrong fails authentication, and the caller reads the whole block instead.
        """
        end = min(end, ref.size)
        if start >= end or ref.stored != framed_size(ref.size):
            return None
        frames = frame_range(ref.size, start, end)
        return frames if frames.last_frame - frames.first + 1 < frames.frames else None

    async def get_frames(self, ref: BlockRef, frames: FrameRange) -> bytes:
        """The plaintext of ``frames`` (from ``frames.plain_offset``), by one ranged GET."""
        key = object_key(ref.id) if ref.pack is None else pack_key(ref.pack)
        length = frames.stored_end - frames.stored_start
        try:
            stored = await self.store.get_range(key, ref.offset + frames.stored_start, length)
        except ObjectNotFoundError as e:
            raise IntegrityError(f"block {ref.id.hex()} is missing from the store") from e
        return self.open_frames(ref, frames, stored)  # a few frames: cheap inline

    def open_frames(self, ref: BlockRef, frames: FrameRange, stored: bytes | memoryview) -> bytes:
        """The plaintext of ``frames`` from exactly their stored bytes (say, read from a
        cached copy); :class:`IntegrityError` if they fail authentication."""
        return self.codec.open_frames(ref.id, stored, frames)

    async def unseal(self, ref: BlockRef, sealed: bytes | memoryview) -> bytes:
        """Authenticate and open a sealed block; :class:`IntegrityError` if it fails."""
        return await asyncio.to_thread(self.open_sealed, ref, sealed)

    def open_sealed(self, ref: BlockRef, sealed: bytes | memoryview) -> bytes:
        """:meth:`unseal` in the calling thread (for callers already in a worker)."""
        plain = self.codec.open(ref.id, sealed, max_size=self.block_size)
        return plain if len(plain) <= ref.size else plain[: ref.size]

    async def delete(self, block_id: bytes) -> None:
        """Remove an unreferenced object (idempotent)."""
        await self.store.delete(object_key(block_id))

    async def delete_pack(self, pack: bytes) -> None:
        """Remove a pack none of whose blocks is referenced any more (idempotent)."""
        await self.store.delete(pack_key(pack))
