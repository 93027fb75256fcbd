"""Helpers of the fault tests: what is really in the store, and waiting for the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from cloudfs.blocks.layout import object_key, pack_key
from cloudfs.blocks.ref import BlockRef
from cloudfs.errors import ObjectNotFoundError
from cloudfs.meta.protocol import ROOT_INO, InodeKind
from cloudfs.store.protocol import ObjectStore
from cloudfs.vfs.core import Vfs
from tests.vfsutil import MemoryDiskCache


def key_of(ref: BlockRef) -> str:
    """The object holding ``ref``: its own, or its pack."""
    return object_key(ref.id) if ref.pack is None else pack_key(ref.pack)


async def sealed_of(store: ObjectStore, ref: BlockRef) -> bytes:
    """The sealed bytes of ``ref`` as ``store`` holds them (out of its pack if packed)."""
    if ref.pack is None:
        return await store.get(object_key(ref.id))
    return await store.get_range(pack_key(ref.pack), ref.offset, ref.stored)


async def all_refs_exist(vfs: Vfs, store: ObjectStore) -> int:
    """Check every block ref in the engine names a whole object in ``store`` (the real,
    unwrapped store); return how many refs there are."""
    count = 0
    todo = [ROOT_INO]
    while todo:
        for entry in await vfs.meta.readdir(todo.pop(), 0, 10_000):
            if entry.kind == InodeKind.DIR:
                todo.append(entry.ino)
            elif entry.kind == InodeKind.FILE:
                for ref in (await vfs.meta.get_blocks(entry.ino, 0, 100_000)).values():
                    try:
                        meta = await store.head(key_of(ref))
                    except ObjectNotFoundError:
                        pytest.fail(f"inode {entry.ino} points at missing block {ref.id.hex()}")
                    whole = (
                        meta.size == ref.stored
                        if ref.pack is None
                        else (meta.size >= ref.offset + ref.stored)
                    )
                    assert whole, f"block {ref.id.hex()} is not whole"
                    count += 1
    return count


async def committed(vfs: Vfs, store: ObjectStore, path: str) -> bytes:
    """What a fresh client reads of ``/name``: committed metadata, blocks from ``store``."""
    name = path.lstrip("/")
    inode = await vfs.meta.lookup(ROOT_INO, vfs.cipher.seal_name(ROOT_INO, name))
    refs = await vfs.meta.get_blocks(inode.ino, 0, 100_000)
    out = bytearray(inode.size)
    bs = vfs.block_size
    for index, ref in refs.items():
        block = await vfs.blocks.unseal(ref, await sealed_of(store, ref))
        out[index * bs : index * bs + len(block)] = block
    return bytes(out)


def forget_cached(vfs: Vfs) -> None:
    """Drop every clean block this client holds (memory and the disk stand-in), so the
    next read must fetch from the store."""
    vfs.fetcher.clear()
    if isinstance(vfs.disk, MemoryDiskCache):
        for block_id in [i for i in vfs.disk.blocks if i not in vfs.disk.dirty]:
            del vfs.disk.blocks[block_id]


async def still_waiting(task: asyncio.Future[object], seconds: float = 0.3) -> bool:
    """True if ``task`` has not finished after ``seconds`` (it is blocked, as it should)."""
    done, _ = await asyncio.wait([task], timeout=seconds)
    return not done


async def eventually(check: Callable[[], bool | Awaitable[bool]], limit: float = 10.0) -> None:
    """Poll ``check`` until it holds; fail after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"condition not reached within {limit} s")
        await asyncio.sleep(0.01)
