"""Model-based test: random filesystem operations on the VFS and on a reference model.

Hypothesis drives a :class:`~hypothesis.stateful.RuleBasedStateMachine`: every rule
applies one operation to the VFS (through the contract's path driver, so paths resolve as
they do for the SDK) and to :class:`Model`, a few dozen lines of dictionaries that say what
POSIX says.  Results and errnos must agree, and after every step the whole tree must agree:
the same names, kinds, sizes, link counts and contents.

Symlink targets all start with ``zz/``, a name the alphabet never produces, so every
symlink dangles: following one is ``ENOENT`` in the model, which keeps the model small
(the contract suite covers following live symlinks).

Failures Hypothesis found are kept below as explicit regression tests.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)
from tests.contracts.os_driver import OsDriver
from tests.contracts.vfs_contract import BS, VfsDriver
from tests.vfsutil import close_vfs, make_vfs

from cloudfs.errors import StoreUnavailableError
from cloudfs.meta.protocol import RenameFlags

NAMES = ["a", "b", "c"]
MAX_OFFSET = 2 * BS + 100
MAX_WRITE = BS + 50


# -- the reference model --------------------------------------------------------------------
@dataclass
class Node:
    kind: str  # 'file', 'dir', 'symlink'
    data: bytearray = field(default_factory=bytearray)
    children: dict[str, int] = field(default_factory=dict)
    target: str = ""
    nlink: int = 1


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class Model:
    """Inodes in a dict; errors raised as ``OSError`` with the errno Linux gives."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {1: Node("dir", nlink=2)}
        self.next_ino = 2

    def _new(self, node: Node) -> int:
        self.nodes[self.next_ino] = node
        self.next_ino += 1
        return self.next_ino - 1

    @staticmethod
    def parts(path: str) -> list[str]:
        return [p for p in path.split("/") if p]

    def _walk(self, parts: list[str], *, follow_last: bool) -> int:
        cur = 1
        for i, name in enumerate(parts):
            node = self.nodes[cur]
            if node.kind != "dir":
                raise _err(errno.ENOTDIR)
            if name not in node.children:
                raise _err(errno.ENOENT)
            child = node.children[name]
            if self.nodes[child].kind == "symlink" and (i < len(parts) - 1 or follow_last):
                raise _err(errno.ENOENT)  # every symlink dangles (targets start with zz/)
            cur = child
        return cur

    def lookup(self, path: str, *, follow: bool = True) -> int:
        return self._walk(self.parts(path), follow_last=follow)

    def parent(self, path: str) -> tuple[int, str]:
        parts = self.parts(path)
        ino = self._walk(parts[:-1], follow_last=True)
        if self.nodes[ino].kind != "dir":
            raise _err(errno.ENOTDIR)
        return ino, parts[-1]

    def _child(self, path: str) -> tuple[int, str, int | None]:
        parent, name = self.parent(path)
        return parent, name, self.nodes[parent].children.get(name)

    def _add(self, parent: int, name: str, ino: int) -> None:
        self.nodes[parent].children[name] = ino
        if self.nodes[ino].kind == "dir":
            self.nodes[parent].nlink += 1

    def _remove(self, parent: int, name: str) -> None:
        ino = self.nodes[parent].children.pop(name)
        node = self.nodes[ino]
        if node.kind == "dir":
            self.nodes[parent].nlink -= 1
            node.nlink = 0
        else:
            node.nlink -= 1

    # -- operations -----------------------------------------------------------------------
    def open(self, path: str, *, create: bool) -> int:
        try:
            ino = self.lookup(path)
        except OSError as e:
            if e.errno != errno.ENOENT or not create:
                raise
            parent, name, existing = self._child(path)
            if existing is not None:  # a dangling symlink: its target's parent is missing
                raise
            ino = self._new(Node("file"))
            self._add(parent, name, ino)
            return ino
        if self.nodes[ino].kind == "dir":
            raise _err(errno.EISDIR)
        return ino

    def write(self, ino: int, offset: int, data: bytes) -> None:
        buf = self.nodes[ino].data
        if len(buf) < offset:
            buf.extend(bytes(offset - len(buf)))
        buf[offset : offset + len(data)] = data

    def read(self, path: str, offset: int, size: int) -> bytes:
        ino = self.open(path, create=False)
        return bytes(self.nodes[ino].data[offset : offset + size])

    def truncate(self, path: str, size: int) -> None:
        ino = self.open(path, create=False)
        buf = self.nodes[ino].data
        del buf[size:]
        buf.extend(bytes(size - len(buf)))

    def create_excl(self, path: str) -> None:
        parent, name, existing = self._child(path)
        if existing is not None:
            raise _err(errno.EEXIST)
        self._add(parent, name, self._new(Node("file")))

    def mkdir(self, path: str) -> None:
        parent, name, existing = self._child(path)
        if existing is not None:
            raise _err(errno.EEXIST)
        self._add(parent, name, self._new(Node("dir", nlink=2)))

    def symlink(self, target: str, path: str) -> None:
        parent, name, existing = self._child(path)
        if existing is not None:
            raise _err(errno.EEXIST)
        self._add(parent, name, self._new(Node("symlink", target=target)))

    def readlink(self, path: str) -> str:
        node = self.nodes[self.lookup(path, follow=False)]
        if node.kind != "symlink":
            raise _err(errno.EINVAL)
        return node.target

    def rmdir(self, path: str) -> None:
        parent, name, ino = self._child(path)
        if ino is None:
            raise _err(errno.ENOENT)
        if self.nodes[ino].kind != "dir":
            raise _err(errno.ENOTDIR)
        if self.nodes[ino].children:
            raise _err(errno.ENOTEMPTY)
        self._remove(parent, name)

    def unlink(self, path: str) -> None:
        parent, name, ino = self._child(path)
        if ino is None:
            raise _err(errno.ENOENT)
        if self.nodes[ino].kind == "dir":
            raise _err(errno.EISDIR)
        self._remove(parent, name)

    def link(self, src: str, dst: str) -> None:
        ino = self.lookup(src, follow=False)
        parent, name, existing = self._child(dst)
        if existing is not None:
            raise _err(errno.EEXIST)
        if self.nodes[ino].kind == "dir":
            raise _err(errno.EPERM)
        self.nodes[ino].nlink += 1
        self._add(parent, name, ino)

    def _is_ancestor(self, ancestor: int, ino: int) -> bool:
        """Whether directory ``ancestor`` is ``ino`` or contains it."""
        if ancestor == ino:
            return True
        return any(
            self._is_ancestor(c, ino)
            for c in self.nodes[ancestor].children.values()
            if self.nodes[c].kind == "dir"
        )

    def rename(self, src: str, dst: str, flags: RenameFlags) -> None:
        sp, sname = self.parent(src)
        dp, dname = self.parent(dst)
        s = self.nodes[sp].children.get(sname)
        if s is None:
            raise _err(errno.ENOENT)
        d = self.nodes[dp].children.get(dname)
        if flags & RenameFlags.EXCHANGE and d is None:
            raise _err(errno.ENOENT)
        if flags & RenameFlags.NOREPLACE and d is not None:
            raise _err(errno.EEXIST)
        if self.nodes[s].kind == "dir" and self._is_ancestor(s, dp):
            raise _err(errno.EINVAL)
        if d is not None and self.nodes[d].kind == "dir" and self._is_ancestor(d, sp):
            raise _err(errno.EINVAL if flags & RenameFlags.EXCHANGE else errno.ENOTEMPTY)
        if s == d:
            return
        if flags & RenameFlags.EXCHANGE:
            assert d is not None
            self._remove(sp, sname)
            self._remove(dp, dname)
            self._relink(d)
            self._relink(s)
            self._add(sp, sname, d)
            self._add(dp, dname, s)
            return
        if d is not None:
            self._check_replace(s, d)
            self._remove(dp, dname)
        self._remove(sp, sname)
        self._relink(s)
        self._add(dp, dname, s)

    def _relink(self, ino: int) -> None:
        node = self.nodes[ino]
        node.nlink = (
            2 + sum(1 for c in node.children.values() if self.nodes[c].kind == "dir")
            if node.kind == "dir"
            else node.nlink + 1
        )

    def _check_replace(self, s: int, d: int) -> None:
        s_dir, d_dir = self.nodes[s].kind == "dir", self.nodes[d].kind == "dir"
        if s_dir and not d_dir:
            raise _err(errno.ENOTDIR)
        if d_dir and not s_dir:
            raise _err(errno.EISDIR)
        if d_dir and self.nodes[d].children:
            raise _err(errno.ENOTEMPTY)

    def tree(self, ino: int = 1, prefix: str = "") -> dict[str, int]:
        """Every path under ``ino`` to its inode, depth first."""
        out: dict[str, int] = {}
        for name, child in self.nodes[ino].children.items():
            out[f"{prefix}/{name}"] = child
            if self.nodes[child].kind == "dir":
                out.update(self.tree(child, f"{prefix}/{name}"))
        return out


# -- the state machine -----------------------------------------------------------------------
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))
offsets = st.integers(0, MAX_OFFSET)
payloads = st.tuples(st.integers(1, MAX_WRITE), st.integers(0, 2**32)).map(
    lambda t: random.Random(t[1]).randbytes(t[0])
)
rename_flags = st.sampled_from(
    [RenameFlags.NONE, RenameFlags.NONE, RenameFlags.NOREPLACE, RenameFlags.EXCHANGE]
)


@dataclass
class Handle:
    fh: int
    ino: int  # the model's inode


class VfsVersusModel(RuleBasedStateMachine):
    handles = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.model = Model()
        self.fs: VfsDriver | None = None
        self.open_handles: dict[int, Handle] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize()
    def start(self) -> None:
        self.fs = VfsDriver(self.run(make_vfs()))

    def teardown(self) -> None:
        try:
            if self.fs is not None:
                for fh in list(self.open_handles):
                    self.run(self.fs.close(fh))
                self.run(close_vfs(self.fs.vfs))
            pending = asyncio.all_tasks(self.loop)
            if pending:
                self.run(asyncio.wait(pending))
        finally:
            self.loop.close()

    @property
    def driver(self) -> VfsDriver:
        assert self.fs is not None
        return self.fs

    def both(self, call: Any, model_call: Any) -> Any:
        """Run one operation on both sides and compare the result or the errno."""
        try:
            expected = model_call()
        except OSError as e:
            self.expect_errno(e.errno, call)
            return None
        actual = self.run(call())
        assert actual == expected
        return actual

    def expect_errno(self, code: int | None, call: Any) -> None:
        with pytest.raises(OSError) as info:
            self.run(call())
        model = errno.errorcode.get(code or 0, code)
        assert info.value.errno == code, f"VFS: {info.value!r}, model: {model}"

    # -- namespace rules ----------------------------------------------------------------
    @rule(path=paths)
    def create(self, path: str) -> None:
        self.both(lambda: self.driver.create_excl(path), lambda: self.model.create_excl(path))

    @rule(path=paths)
    def mkdir(self, path: str) -> None:
        self.both(lambda: self.driver.mkdir(path), lambda: self.model.mkdir(path))

    @rule(path=paths)
    def rmdir(self, path: str) -> None:
        self.both(lambda: self.driver.rmdir(path), lambda: self.model.rmdir(path))

    @rule(path=paths)
    def unlink(self, path: str) -> None:
        self.both(lambda: self.driver.unlink(path), lambda: self.model.unlink(path))

    @rule(src=paths, dst=paths, flags=rename_flags)
    def rename(self, src: str, dst: str, flags: RenameFlags) -> None:
        self.both(
            lambda: self.driver.rename(src, dst, flags), lambda: self.model.rename(src, dst, flags)
        )

    @rule(src=paths, dst=paths)
    def link(self, src: str, dst: str) -> None:
        self.both(lambda: self.driver.link(src, dst), lambda: self.model.link(src, dst))

    @rule(path=paths, link_target=st.sampled_from(["zz/x", "zz/y/../z"]))
    def symlink(self, path: str, link_target: str) -> None:
        self.both(
            lambda: self.driver.symlink(link_target, path),
            lambda: self.model.symlink(link_target, path),
        )

    @rule(path=paths)
    def readlink(self, path: str) -> None:
        self.both(lambda: self.driver.readlink(path), lambda: self.model.readlink(path))

    # -- data rules ---------------------------------------------------------------------
    @rule(path=paths, offset=offsets, data=payloads)
    def write(self, path: str, offset: int, data: bytes) -> None:
        def model() -> None:
            self.model.write(self.model.open(path, create=True), offset, data)

        self.both(lambda: self.driver.write_bytes(path, data, offset), model)

    @rule(path=paths, offset=offsets, size=st.integers(0, 2 * BS))
    def read(self, path: str, offset: int, size: int) -> None:
        self.both(
            lambda: self.driver.read_bytes(path, offset, size),
            lambda: self.model.read(path, offset, size),
        )

    @rule(path=paths, size=st.integers(0, MAX_OFFSET))
    def truncate(self, path: str, size: int) -> None:
        self.both(lambda: self.driver.truncate(path, size), lambda: self.model.truncate(path, size))

    @rule(target=handles, path=paths)
    def open_handle(self, path: str) -> Any:
        try:
            ino = self.model.open(path, create=True)
        except OSError as e:
            self.expect_errno(e.errno, lambda: self.driver.open(path, os.O_RDWR | os.O_CREAT))
            return multiple()
        fh = self.run(self.driver.open(path, os.O_RDWR | os.O_CREAT))
        self.open_handles[fh] = Handle(fh, ino)
        return fh

    @rule(fh=handles, offset=offsets, data=payloads)
    def write_handle(self, fh: int, offset: int, data: bytes) -> None:
        if fh not in self.open_handles:
            return
        self.model.write(self.open_handles[fh].ino, offset, data)
        assert self.run(self.driver.pwrite(fh, data, offset)) == len(data)

    @rule(fh=handles, offset=offsets, size=st.integers(0, 2 * BS))
    def read_handle(self, fh: int, offset: int, size: int) -> None:
        if fh not in self.open_handles:
            return
        data = self.model.nodes[self.open_handles[fh].ino].data
        assert self.run(self.driver.pread(fh, size, offset)) == bytes(data[offset : offset + size])

    @rule(fh=handles)
    def flush_handle(self, fh: int) -> None:
        if fh in self.open_handles:
            self.run(self.driver.fsync(fh))

    @rule(fh=consumes(handles))
    def close_handle(self, fh: int) -> None:
        if self.open_handles.pop(fh, None) is not None:
            self.run(self.driver.close(fh))

    @rule()
    def sync_all(self) -> None:
        self.run(self.driver.vfs.sync_all())

    # -- invariants ---------------------------------------------------------------------
    @invariant()
    def trees_agree(self) -> None:
        if self.fs is None:
            return
        tree = self.model.tree()
        for path, ino in [("", 1), *tree.items()]:
            node = self.model.nodes[ino]
            st_ = self.run(self.driver.stat(path or "/", follow=False))
            assert st_.kind == node.kind, path
            assert st_.nlink == node.nlink, path
            if node.kind == "dir":
                listed = sorted(self.run(self.driver.listdir(path or "/")))
                assert listed == sorted(node.children), path
            elif node.kind == "file":
                assert st_.size == len(node.data), path
                assert self.run(self.driver.read_bytes(path)) == bytes(node.data), path
            else:
                assert st_.size == len(node.target.encode()), path


class OsVersusModel(VfsVersusModel):
    """The same machine against a local folder: proves the model says what Linux does."""

    @initialize()
    def start(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.fs = OsDriver(Path(self.tmp.name))  # type: ignore[assignment]

    def teardown(self) -> None:
        try:
            for fh in list(self.open_handles):
                self.run(self.driver.close(fh))
            self.tmp.cleanup()
        finally:
            self.loop.close()

    @rule()
    def sync_all(self) -> None:
        pass


_settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VfsVersusModel.TestCase.settings = _settings
TestVfsVersusModel = VfsVersusModel.TestCase
OsVersusModel.TestCase.settings = settings(_settings, max_examples=30)
TestOsVersusModel = OsVersusModel.TestCase


# -- regressions Hypothesis found --------------------------------------------------------------
def test_regression_create_excl_on_a_dangling_symlink_is_eexist() -> None:
    """O_CREAT|O_EXCL must not follow a final symlink (the path driver once followed it)."""
    state = VfsVersusModel()
    try:
        state.start()
        state.symlink(path="/a", link_target="zz/x")
        state.create(path="/a")
        state.open_handle(path="/a")
        state.trees_agree()
    finally:
        state.teardown()


def test_regression_stale_upload_error_after_recovery() -> None:
    """Background uploads failed, the store came back: the queue must commit, and no
    stale failure may surface (close journals at once; sync_all waits for the commit)."""
    state = VfsVersusModel()
    try:
        state.start()
        fh = state.open_handle(path="/a")
        vfs = state.driver.vfs
        store = vfs.blocks.store
        vfs.blocks.store = _DownStore(store)
        state.write_handle(fh=fh, offset=0, data=bytes(range(256)) * (BS // 128))
        file = vfs.handle(fh).file
        if file.staging:
            state.run(asyncio.wait(list(file.staging.values())))
        state.close_handle(fh=fh)

        deadline = time.monotonic() + 10
        while not vfs.queue.status().retrying:  # until an upload has failed
            assert time.monotonic() < deadline
            state.run(asyncio.sleep(0.01))
        vfs.blocks.store = store
        state.run(asyncio.wait_for(vfs.sync_all(), 30))
        vfs.fetcher.clear()
        state.trees_agree()
    finally:
        state.teardown()


class _DownStore:
    """Every put fails as an unreachable store's would."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        raise StoreUnavailableError(f"down: {key}", key=key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
