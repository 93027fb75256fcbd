"""The upload queue keeps blocks just staged in memory for their upload, within a budget."""

from __future__ import annotations

import os

from tests.vfsutil import SMALL_BLOCK, close_vfs, make_vfs

from cloudfs.meta.protocol import ROOT_INO
from cloudfs.vfs.core import VfsOptions


async def test_offers_are_kept_within_the_budget_and_let_go() -> None:
    vfs = await make_vfs(options=VfsOptions(upload_hold_bytes=250))
    try:
        queue = vfs.queue
        queue.offer(b"a" * 16, b"x" * 100)
        queue.offer(b"b" * 16, b"y" * 100)
        queue.offer(b"c" * 16, b"z" * 100)  # would pass 250: not kept
        assert set(queue._held) == {b"a" * 16, b"b" * 16}
        queue.offer(b"a" * 16, b"x" * 100)  # offered twice: counted once
        assert queue._held_bytes == 200
        queue.forget([b"a" * 16, b"unknown" + bytes(9)])
        assert queue._held_bytes == 100
        queue.offer(b"c" * 16, b"z" * 100)
        assert set(queue._held) == {b"b" * 16, b"c" * 16}
    finally:
        await close_vfs(vfs)
    assert not vfs.queue._held
    assert vfs.queue._held_bytes == 0


async def test_a_written_file_is_uploaded_from_memory_and_nothing_stays_held() -> None:
    vfs = await make_vfs()
    try:
        reads = 0
        get = vfs.disk.get

        async def counting_get(block_id: bytes, *, count: bool = True) -> bytes | None:
            nonlocal reads
            reads += 1
            return await get(block_id, count=count)

        vfs.disk.get = counting_get
        data = os.urandom(3 * SMALL_BLOCK + 5)
        handle, inode = await vfs.create(ROOT_INO, "f", 0o644, os.O_WRONLY, 0, 0)
        await vfs.write(handle.fh, 0, data)
        await vfs.release(handle.fh)
        await vfs.sync_all()
        assert reads == 0  # no block was read back from the disk cache to be uploaded
        assert not vfs.queue._held
        assert vfs.queue._held_bytes == 0
        vfs.fetcher.clear()
        h = await vfs.open(inode.ino, os.O_RDONLY)
        assert await vfs.read(h.fh, 0, len(data) + 1) == data
        await vfs.release(h.fh)
    finally:
        await close_vfs(vfs)
