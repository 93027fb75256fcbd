"""Blocks whose size is not a power of two: random writes, truncates and reads agree with a
bytearray, through the real disk cache, the journal and a local-folder store.

The default block size is 63 frames (4,032 KiB, docs/decisions/0016), so block edges no
longer fall on power-of-two offsets: a 128 KiB kernel read or a 1 MiB application write
can straddle two blocks.  Here blocks are 3 frames (192 KiB) so that happens often; each
run ends by reading the file back from a second client with an empty cache, so every byte
comes from the store, frame by frame.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tests.vfsutil import close_vfs, make_vfs_with_cache

from cloudfs.meta.protocol import ROOT_INO, AttrChanges
from cloudfs.store.config import LocalStoreConfig
from cloudfs.store.obstore_backend import open_store
from cloudfs.vfs.core import Vfs

FRAME = 64 * 1024
BS = 3 * FRAME
SPAN = 5 * BS  # offsets stay within five blocks


def _offset(rng: random.Random) -> int:
    """Mostly near a block or frame edge, where off-by-one errors live."""
    if rng.random() < 0.6:
        edge = rng.randrange(SPAN // FRAME + 1) * FRAME
        return max(0, edge + rng.randint(-3, 3))
    return rng.randrange(SPAN)


async def _read_all(vfs: Vfs, ino: int, size: int, rng: random.Random) -> bytes:
    """The file read back in pieces of random sizes, many crossing a block edge."""
    handle = await vfs.open(ino, os.O_RDONLY)
    try:
        out, pos = bytearray(), 0
        while pos < size + 10:
            piece = await vfs.read(handle.fh, pos, rng.choice([1, 4096, 128 * 1024, BS + 7]))
            if not piece:
                break
            out += piece
            pos += len(piece)
        return bytes(out)
    finally:
        await vfs.release(handle.fh)


@pytest.mark.parametrize("seed", range(4))
async def test_random_writes_truncates_and_reads_agree_with_a_bytearray(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    store_root = tmp_path / "objects"
    same = {"block_size": BS, "meta_path": str(tmp_path / "meta.sqlite")}
    same |= {"master": os.urandom(32), "filespace_id": os.urandom(16)}
    vfs = await make_vfs_with_cache(
        open_store(LocalStoreConfig(root=store_root)), state_dir=tmp_path / "one", **same
    )
    model = bytearray()
    try:
        handle, inode = await vfs.create(ROOT_INO, "f", 0o644, os.O_RDWR, 0, 0)
        ino = inode.ino
        for _ in range(80):
            choice = rng.random()
            if choice < 0.45:
                offset, data = _offset(rng), os.urandom(rng.choice([1, 100, FRAME, BS + 5]))
                assert await vfs.write(handle.fh, offset, data) == len(data)
                if offset > len(model):
                    model += bytes(offset - len(model))
                model[offset : offset + len(data)] = data
            elif choice < 0.55:
                size = _offset(rng)
                await vfs.setattr(ino, AttrChanges(size=size))
                del model[size:]
                model += bytes(size - len(model))
            elif choice < 0.9:
                offset, size = _offset(rng), rng.choice([1, 4096, FRAME + 1, 2 * BS])
                got = await vfs.read(handle.fh, offset, size)
                assert got == bytes(model[offset : offset + size]), (offset, size)
            else:  # commit what was written: later reads also come from sealed blocks
                await vfs.fsync(handle.fh)
        await vfs.release(handle.fh)
        assert (await vfs.getattr(ino)).size == len(model)
        assert await _read_all(vfs, ino, len(model), rng) == model
    finally:
        await close_vfs(vfs)

    other = await make_vfs_with_cache(
        open_store(LocalStoreConfig(root=store_root)), state_dir=tmp_path / "two", **same
    )
    try:
        assert await _read_all(other, ino, len(model), rng) == model
    finally:
        await close_vfs(other)
