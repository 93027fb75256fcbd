"""Path resolution (cloudfs.vfs.paths): what a miss says about where to create."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.vfsutil import close_vfs, make_vfs

from cloudfs.meta.protocol import ROOT_INO
from cloudfs.vfs import paths
from cloudfs.vfs.core import Vfs


@pytest.fixture
async def vfs() -> AsyncIterator[Vfs]:
    v = await make_vfs()
    yield v
    await close_vfs(v)


async def test_a_missing_last_name_says_where_it_would_be_created(vfs: Vfs) -> None:
    d = await vfs.mkdir(ROOT_INO, "d", 0o755, 0, 0)
    inode, place = await paths.resolve_or_place(vfs, "/d/./x/../new")
    assert inode is None
    assert place is not None
    assert (place[0].ino, place[1]) == (d.ino, "new")
    inode, place = await paths.resolve_or_place(vfs, "/d")
    assert (inode and inode.ino, place) == (d.ino, None)


async def test_other_misses_raise_enoent(vfs: Vfs) -> None:
    await vfs.mkdir(ROOT_INO, "d", 0o755, 0, 0)
    await vfs.symlink(ROOT_INO, "dangling", "/d/nowhere", 0, 0)
    for path in ("/missing/new", "/dangling"):  # a missing folder; through a symlink
        with pytest.raises(FileNotFoundError):
            await paths.resolve_or_place(vfs, path)
