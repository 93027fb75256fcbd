"""Tampering with stored blocks, end to end through the VFS over a real object store.

Whoever holds the bucket can flip, swap, replay, delete or truncate objects.  Each block is
sealed with AES-GCM bound to the filespace and its own block id, so every such change must
make the read fail with ``OSError(EIO)`` (an :class:`~cloudfs.errors.IntegrityError`) —
never return bytes that are not the file's.  A wrong passphrase must fail cleanly.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudfs.blocks.layout import PACK_BYTES, object_key
from cloudfs.codec.envelope import FRAME_OVERHEAD, HEADER_V2_SIZE
from cloudfs.codec.keys import KdfParams
from cloudfs.errors import IntegrityError, WrongPassphraseError, errno_of
from cloudfs.meta.protocol import ROOT_INO, BlockRef
from cloudfs.store.config import LocalStoreConfig, MemoryStoreConfig, open_store
from cloudfs.store.faulty import CountingStore
from cloudfs.store.protocol import ObjectStore
from cloudfs.vfs.core import Vfs
from cloudfs.vfs.pinning import warm_up
from cloudfs.workspace.filespace import Secret, create_filespace, open_filespace
from cloudfs.workspace.registry import Registry
from tests.contracts.vfs_contract import BS, VfsDriver
from tests.fault.faultutil import forget_cached, key_of, sealed_of
from tests.vfsutil import MemoryDiskCache, close_vfs, make_vfs, make_vfs_with_cache


@pytest.fixture(params=["memory", "local", "memory-unpacked"])
async def vfs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Vfs]:
    """Multi-block files go up as packs (format 4), or each block as its own object."""
    if request.param.startswith("memory"):
        store = open_store(MemoryStoreConfig())
    else:
        store = open_store(LocalStoreConfig(root=tmp_path / "objects"))
    v = await make_vfs(store, pack_bytes=0 if request.param.endswith("unpacked") else PACK_BYTES)
    yield v
    await close_vfs(v)


async def sealed_block(vfs: Vfs, ref: BlockRef) -> bytes:
    """The stored bytes of one block (inside its pack, if it is packed)."""
    return await sealed_of(store_of(vfs), ref)


async def replace_block(vfs: Vfs, ref: BlockRef, sealed: bytes) -> None:
    """Overwrite the stored bytes of one block in place (same length inside a pack)."""
    if ref.pack is None:
        await store_of(vfs).put(object_key(ref.id), sealed)
        return
    assert len(sealed) == ref.stored
    whole = bytearray(await store_of(vfs).get(key_of(ref)))
    whole[ref.offset : ref.offset + ref.stored] = sealed
    await store_of(vfs).put(key_of(ref), bytes(whole))


async def write_file(vfs: Vfs, path: str, data: bytes) -> list[BlockRef]:
    """Write ``data`` to ``path``, wait until it is in the store and committed (close only
    journals it), and return its block refs in order."""
    fs = VfsDriver(vfs)
    await fs.write_bytes(path, data)
    await vfs.sync_all()
    ino = (await fs.stat(path)).ino
    refs = await vfs.meta.get_blocks(ino, 0, 1000)
    return [refs[i] for i in sorted(refs)]


def store_of(vfs: Vfs) -> ObjectStore:
    return vfs.blocks.store


async def read_fresh(vfs: Vfs, path: str, offset: int = 0, size: int | None = None) -> bytes:
    """Read as a client that has nothing cached would: the tampered object is what it
    fetches (a cached copy would hide the tampering)."""
    forget_cached(vfs)
    return await VfsDriver(vfs).read_bytes(path, offset, size)


async def expect_eio(vfs: Vfs, path: str, offset: int = 0, size: int | None = None) -> None:
    with pytest.raises(OSError) as info:
        await read_fresh(vfs, path, offset, size)
    assert info.value.errno == errno.EIO, repr(info.value)
    assert errno_of(info.value) == errno.EIO
    assert isinstance(info.value, IntegrityError), repr(info.value)


@pytest.mark.parametrize("position", [0, 5, 10, 30, -17, -1])
async def test_flipped_byte_is_eio(vfs: Vfs, position: int) -> None:
    data = os.urandom(2 * BS + 100)
    refs = await write_file(vfs, "/f", data)
    sealed = bytearray(await sealed_block(vfs, refs[1]))
    sealed[position] ^= 0x01
    await replace_block(vfs, refs[1], bytes(sealed))
    await expect_eio(vfs, "/f")
    await expect_eio(vfs, "/f", BS + 10, 5)
    # the untouched blocks still read
    assert await read_fresh(vfs, "/f", 0, BS) == data[:BS]
    assert await read_fresh(vfs, "/f", 2 * BS, 100) == data[2 * BS :]


async def test_flipped_byte_in_compressible_block_is_eio(vfs: Vfs) -> None:
    await write_file(vfs, "/f", b"compressible " * 10000)
    refs = await write_file(vfs, "/g", b"z" * BS)
    key = object_key(refs[0].id)
    sealed = bytearray(await store_of(vfs).get(key))
    assert len(sealed) < BS  # it was compressed
    sealed[len(sealed) // 2] ^= 0x80
    await store_of(vfs).put(key, bytes(sealed))
    await expect_eio(vfs, "/g")


async def test_swapped_blocks_are_eio(vfs: Vfs) -> None:
    data = os.urandom(3 * BS)
    refs = await write_file(vfs, "/f", data)
    sealed_a, sealed_b = await sealed_block(vfs, refs[0]), await sealed_block(vfs, refs[1])
    await replace_block(vfs, refs[0], sealed_b)
    await replace_block(vfs, refs[1], sealed_a)
    await expect_eio(vfs, "/f", 0, BS)
    await expect_eio(vfs, "/f", BS, BS)
    assert await read_fresh(vfs, "/f", 2 * BS, BS) == data[2 * BS :]


async def test_block_moved_between_files_is_eio(vfs: Vfs) -> None:
    [ref_f] = await write_file(vfs, "/f", b"F" * 1000)
    [ref_g] = await write_file(vfs, "/g", b"G" * 1000)
    await store_of(vfs).put(object_key(ref_g.id), await store_of(vfs).get(object_key(ref_f.id)))
    await expect_eio(vfs, "/g")
    assert await read_fresh(vfs, "/f") == b"F" * 1000


async def test_replayed_old_version_is_eio(vfs: Vfs) -> None:
    [v1] = await write_file(vfs, "/f", b"version one " * 100)
    old = await store_of(vfs).get(object_key(v1.id))
    [v2] = await write_file(vfs, "/f", b"version two " * 100)
    assert v2.id != v1.id  # an overwrite never reuses an object
    await store_of(vfs).put(object_key(v2.id), old)
    await expect_eio(vfs, "/f")


async def test_missing_block_is_eio(vfs: Vfs) -> None:
    refs = await write_file(vfs, "/f", os.urandom(2 * BS))
    await store_of(vfs).delete(key_of(refs[0]))  # its object, or the pack holding it
    await expect_eio(vfs, "/f", 0, 10)


@pytest.mark.parametrize("keep", [0, 1, 12, 28, "half", "all-but-one"])
async def test_truncated_block_is_eio(vfs: Vfs, keep: int | str) -> None:
    [ref] = await write_file(vfs, "/f", os.urandom(BS))
    key = object_key(ref.id)
    sealed = await store_of(vfs).get(key)
    n = len(sealed) // 2 if keep == "half" else len(sealed) - 1 if keep == "all-but-one" else keep
    assert isinstance(n, int)
    await store_of(vfs).put(key, sealed[:n])
    await expect_eio(vfs, "/f")


async def test_extended_block_is_eio(vfs: Vfs) -> None:
    [ref] = await write_file(vfs, "/f", os.urandom(1000))
    key = object_key(ref.id)
    await store_of(vfs).put(key, await store_of(vfs).get(key) + b"\0")
    await expect_eio(vfs, "/f")


async def test_a_block_from_another_filespace_is_eio(tmp_path: Path) -> None:
    store = open_store(LocalStoreConfig(root=tmp_path / "objects"))
    master = os.urandom(32)
    a = await make_vfs(store, master=master, filespace_id=b"A" * 16)
    b = await make_vfs(
        open_store(LocalStoreConfig(root=tmp_path / "objects")),
        master=master,
        filespace_id=b"B" * 16,
    )
    try:
        [ref_a] = await write_file(a, "/f", b"from A" * 100)
        [ref_b] = await write_file(b, "/f", b"from B" * 100)
        await store.put(object_key(ref_b.id), await store.get(object_key(ref_a.id)))
        await expect_eio(b, "/f")
    finally:
        await close_vfs(a)
        await close_vfs(b)


async def test_wrong_passphrase_fails_cleanly(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "home")
    record = await create_filespace(
        registry, "fs", "right passphrase", block_size=BS, kdf=KdfParams.for_tests()
    )
    with pytest.raises(WrongPassphraseError):
        await open_filespace(registry, record, Secret(passphrase="wrong passphrase"))
    with pytest.raises(WrongPassphraseError):
        await open_filespace(registry, record, Secret(passphrase="right passphrase "))
    with pytest.raises(ValueError):  # refused before any key derivation
        await open_filespace(registry, record, Secret(passphrase=""))
    opened = await open_filespace(registry, record, Secret(passphrase="right passphrase"))
    try:
        await VfsDriver(opened.vfs).write_bytes("/f", b"ok")
        assert await VfsDriver(opened.vfs).read_bytes("/f") == b"ok"
    finally:
        await opened.close()


async def test_a_refused_block_is_never_cached(tmp_path: Path) -> None:
    """With the real disk cache: a tampered download is refused and not cached (the fill
    writes only what authenticated), so the good object, once back, is fetched and
    cached; then the store is no longer needed for it."""
    store = open_store(LocalStoreConfig(root=tmp_path / "objects"))
    vfs = await make_vfs_with_cache(store, state_dir=tmp_path / "state")
    try:
        data = os.urandom(BS)
        [ref] = await write_file(vfs, "/f", data)
        await vfs.disk.discard([ref.id])  # written here: drop the local copy
        key = object_key(ref.id)
        good = await store.get(key)
        await store.put(key, good[:-1] + bytes([good[-1] ^ 1]))
        vfs.fetcher.clear()
        with pytest.raises(IntegrityError):
            await VfsDriver(vfs).read_bytes("/f")
        await vfs.fetcher.settle()
        assert ref.id not in vfs.disk
        await store.put(key, good)
        vfs.fetcher.clear()
        assert await VfsDriver(vfs).read_bytes("/f") == data
        await vfs.fetcher.settle()  # the fill's row is committed when this returns
        assert ref.id in vfs.disk
        await store.delete(key)
        vfs.fetcher.clear()
        assert await VfsDriver(vfs).read_bytes("/f") == data  # from the disk cache
    finally:
        await close_vfs(vfs)


async def test_warm_up_refuses_a_tampered_block(tmp_path: Path) -> None:
    """`cloudfs warmup` goes through the fetch path's fill: a block that fails
    authentication fails the warm-up with EIO and is not cached; once the good object is
    back, a warm-up caches every block and the file reads without the store."""
    store = open_store(LocalStoreConfig(root=tmp_path / "objects"))
    vfs = await make_vfs_with_cache(store, state_dir=tmp_path / "state", pack_bytes=0)
    try:
        data = os.urandom(3 * BS)
        refs = await write_file(vfs, "/f", data)
        await vfs.disk.discard([ref.id for ref in refs])
        bad = refs[1]
        good = await store.get(object_key(bad.id))
        await store.put(object_key(bad.id), good[:-1] + bytes([good[-1] ^ 1]))
        forget_cached(vfs)
        with pytest.raises(IntegrityError) as info:
            await warm_up(vfs, vfs.disk, ROOT_INO)
        assert errno_of(info.value) == errno.EIO
        await vfs.fetcher.settle()
        assert bad.id not in vfs.disk  # (the other blocks' fetches may still be running)
        await store.put(object_key(bad.id), good)
        assert await warm_up(vfs, vfs.disk, ROOT_INO) == (1, len(data))
        assert all(ref.id in vfs.disk for ref in refs)  # no settling needed after it
        forget_cached(vfs)
        for ref in refs:
            await store.delete(object_key(ref.id))
        assert await VfsDriver(vfs).read_bytes("/f") == data  # from the disk cache alone
        with pytest.raises(ValueError, match="disk cache the VFS reads through"):
            await warm_up(vfs, MemoryDiskCache(), ROOT_INO)  # type: ignore[arg-type]
    finally:
        await close_vfs(vfs)


@pytest.mark.parametrize("kind", ["file", "slot"])
async def test_a_small_read_of_a_cached_block_reads_its_frames_and_refuses_damage(
    tmp_path: Path, kind: str
) -> None:
    """A small random read of a block in the disk cache reads and authenticates only the
    frames it touches; a damaged frame there is refused, the copy discarded, and the block
    fetched again: the damaged bytes are never returned."""
    store = CountingStore(open_store(LocalStoreConfig(root=tmp_path / "objects")))
    vfs = await make_vfs_with_cache(store, state_dir=tmp_path / "state", block_size=1 << 20)
    try:
        data = os.urandom(1 << 20)
        [ref] = await write_file(vfs, "/f", data)  # a block written here: its own file
        if kind == "slot":  # fetched from the store instead: a slab slot
            await vfs.disk.discard([ref.id])
            vfs.fetcher.clear()
            assert await VfsDriver(vfs).read_bytes("/f") == data
            await vfs.fetcher.settle()
            for _ in range(100):  # the fill's row commits in the background
                if ref.id in vfs.disk:
                    break
                await asyncio.sleep(0.01)
        where = vfs.disk.where(ref.id)
        assert where is not None
        path, offset, _ = where
        assert (kind == "file") == path.name.endswith(ref.id.hex())
        fs = VfsDriver(vfs)
        store.reset()
        vfs.fetcher.clear()
        h = await vfs.open((await fs.stat("/f")).ino, os.O_RDONLY)
        try:
            for at in (700_000, 10_000, 300_000):  # random: the window stays shut
                assert await vfs.read(h.fh, at, 4096) == data[at : at + 4096]
            assert store.count() == 0  # all from the disk cache
            assert vfs.fetcher.memory.get(ref.id) is None  # frames, not the whole block
            frame = 9  # damage one byte of frame 9 where the copy lies
            _flip(path, offset + HEADER_V2_SIZE + frame * (FRAME_OVERHEAD + (1 << 16)) + 500)
            at = frame * (1 << 16) + 1000
            assert await vfs.read(h.fh, at, 4096) == data[at : at + 4096]
            assert store.count("get") == 1  # refused locally, fetched again whole
        finally:
            await vfs.release(h.fh)
    finally:
        await close_vfs(vfs)


def _flip(path: Path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 1]))
