"""The SQLite engine's namespace against a reference model, driven by Hypothesis.

The model is a few dicts with rename(2)'s rules written out plainly (in the order Linux
checks them).  Each step applies one operation — mknod, link, unlink, rmdir, rename with
any flags, purge_orphans — to both, and requires the same result or the same errno; after
every step the whole tree (entries, kinds, nlink), the statistics and the change log are
compared.  Names come from a tiny alphabet and inodes are drawn from what exists (plus one
that never does), so collisions, type clashes and subtree moves happen all the time.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cloudfs.meta.protocol import ROOT_INO, InodeKind, RenameFlags
from cloudfs.meta.sqlite import SqliteMetaStore

T = TypeVar("T")
FILE, DIR, SYMLINK = InodeKind.FILE, InodeKind.DIR, InodeKind.SYMLINK
MISSING = 10**9  # an inode number that never exists

NAMES = st.sampled_from([b"a", b"b", b"c", b"d"])
KINDS = st.sampled_from([FILE, DIR, DIR, SYMLINK])
PICK = st.integers(min_value=0, max_value=10**6)  # index into the inodes that exist
FLAGS = st.sampled_from(
    [RenameFlags.NONE] * 4
    + [RenameFlags.NOREPLACE, RenameFlags.EXCHANGE] * 2
    + [RenameFlags.NOREPLACE | RenameFlags.EXCHANGE]
)


class Refused(Exception):
    """The model's answer for an operation that must fail with ``errno``."""

    def __init__(self, code: int) -> None:
        super().__init__(errno.errorcode[code])
        self.errno = code


@dataclass
class Model:
    """The namespace as dicts: kinds, directory contents, directory parents, link counts."""

    kind: dict[int, InodeKind] = field(default_factory=lambda: {ROOT_INO: DIR})
    children: dict[int, dict[bytes, int]] = field(default_factory=lambda: {ROOT_INO: {}})
    parent: dict[int, int | None] = field(default_factory=lambda: {ROOT_INO: None})
    nlink: dict[int, int] = field(default_factory=lambda: {ROOT_INO: 2})

    def dir(self, ino: int) -> dict[bytes, int]:
        if ino not in self.kind:
            raise Refused(errno.ENOENT)
        if self.kind[ino] is not DIR:
            raise Refused(errno.ENOTDIR)
        return self.children[ino]

    def entry(self, parent: int, name: bytes) -> int:
        if name not in self.dir(parent):
            raise Refused(errno.ENOENT)
        return self.children[parent][name]

    def within(self, ino: int, top: int) -> bool:
        """Is directory ``ino`` the directory ``top`` or below it?"""
        node: int | None = ino
        while node is not None:
            if node == top:
                return True
            node = self.parent[node]
        return False

    def mknod(self, parent: int, name: bytes, kind: InodeKind, ino: int) -> None:
        self.dir(parent)[name] = ino
        self.kind[ino] = kind
        self.nlink[ino] = 2 if kind is DIR else 1
        if kind is DIR:
            self.children[ino], self.parent[ino] = {}, parent
            self.nlink[parent] += 1

    def check_mknod(self, parent: int, name: bytes) -> None:
        if name in self.dir(parent):
            raise Refused(errno.EEXIST)

    def link(self, ino: int, parent: int, name: bytes) -> int:
        if ino not in self.kind:
            raise Refused(errno.ENOENT)
        self.check_mknod(parent, name)
        if self.kind[ino] is DIR:
            raise Refused(errno.EPERM)
        if self.nlink[ino] == 0:
            raise Refused(errno.ENOENT)
        self.children[parent][name] = ino
        self.nlink[ino] += 1
        return self.nlink[ino]

    def unlink(self, parent: int, name: bytes) -> int:
        ino = self.entry(parent, name)
        if self.kind[ino] is DIR:
            raise Refused(errno.EISDIR)
        del self.children[parent][name]
        self.nlink[ino] -= 1
        return self.nlink[ino]

    def rmdir(self, parent: int, name: bytes) -> None:
        ino = self.entry(parent, name)
        if self.kind[ino] is not DIR:
            raise Refused(errno.ENOTDIR)
        if self.children[ino]:
            raise Refused(errno.ENOTEMPTY)
        del self.children[parent][name]
        self.nlink[parent] -= 1
        self.forget(ino)

    def forget(self, ino: int) -> None:
        del self.kind[ino], self.nlink[ino]
        self.children.pop(ino, None)
        self.parent.pop(ino, None)

    def rename(
        self, op: int, on: bytes, np: int, nn: bytes, flags: RenameFlags
    ) -> tuple[int, int] | None:
        """Returns (replaced ino, its nlink after) or None."""
        if flags == RenameFlags.NOREPLACE | RenameFlags.EXCHANGE:
            raise Refused(errno.EINVAL)
        self.dir(op), self.dir(np)
        src = self.entry(op, on)
        dst = self.children[np].get(nn)
        if dst is not None and flags & RenameFlags.NOREPLACE:
            raise Refused(errno.EEXIST)
        if dst is None and flags & RenameFlags.EXCHANGE:
            raise Refused(errno.ENOENT)
        if self.kind[src] is DIR and self.within(np, src):
            raise Refused(errno.EINVAL)
        if dst is not None and self.kind[dst] is DIR and self.within(op, dst):
            raise Refused(errno.EINVAL if flags & RenameFlags.EXCHANGE else errno.ENOTEMPTY)
        if dst == src:
            return None
        if flags & RenameFlags.EXCHANGE:
            assert dst is not None
            self.children[op][on], self.children[np][nn] = dst, src
            self.reparent(src, op, np)
            self.reparent(dst, np, op)
            return None
        replaced = self.replace(src, dst, np, nn) if dst is not None else None
        del self.children[op][on]
        self.children[np][nn] = src
        self.reparent(src, op, np)
        return replaced

    def replace(self, src: int, dst: int, np: int, nn: bytes) -> tuple[int, int]:
        if self.kind[src] is DIR and self.kind[dst] is not DIR:
            raise Refused(errno.ENOTDIR)
        if self.kind[src] is not DIR and self.kind[dst] is DIR:
            raise Refused(errno.EISDIR)
        if self.kind[dst] is DIR and self.children[dst]:
            raise Refused(errno.ENOTEMPTY)
        del self.children[np][nn]
        if self.kind[dst] is DIR:
            self.nlink[np] -= 1
            self.forget(dst)
            return dst, 0
        self.nlink[dst] -= 1
        return dst, self.nlink[dst]

    def reparent(self, ino: int, old: int, new: int) -> None:
        if self.kind[ino] is DIR and old != new:
            self.parent[ino] = new
            self.nlink[old] -= 1
            self.nlink[new] += 1

    def purge_orphans(self) -> int:
        orphans = [ino for ino, n in self.nlink.items() if n == 0]
        for ino in orphans:
            self.forget(ino)
        return len(orphans)


class NamespaceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = self.run(SqliteMetaStore.open(":memory:"))
        self.run(self.store.format(b"d", block_size=4096, root_mode=0o755, uid=0, gid=0))
        self.model = Model()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()

    def pick(self, index: int, *, dirs_only: bool = False) -> int:
        """An inode that exists (a directory, mostly, when ``dirs_only``), rarely MISSING."""
        if index % 13 == 0:
            return MISSING
        kinds = self.model.kind
        if dirs_only and index % 7 != 0:  # else any inode: files get ENOTDIR
            inos = sorted(ino for ino, kind in kinds.items() if kind is DIR)
        else:
            inos = sorted(kinds)
        return inos[index % len(inos)]

    def same(
        self, engine: Coroutine[Any, Any, T], model: Callable[..., Any], *args: Any
    ) -> tuple[T, Any] | None:
        """Run the model step and the engine call: both fail with one errno (None), or
        both succeed: (engine result, model result)."""
        try:
            expected = model(*args)
        except Refused as refused:
            self.same_error(engine, refused.errno)
            return None
        return self.run(engine), expected

    def same_error(self, engine: Coroutine[Any, Any, Any], code: int) -> None:
        error: OSError | None = None
        try:
            self.run(engine)
        except OSError as exc:
            error = exc
        assert error is not None, f"engine succeeded, model refused with {errno.errorcode[code]}"
        assert error.errno == code, f"engine {error!r}, model {errno.errorcode[code]}"

    @initialize()
    def a_small_tree(self) -> None:
        """Start from a/{c/, f}, b/ so that every rule has something to work on."""
        for parent, name, kind in ((ROOT_INO, b"a", DIR), (ROOT_INO, b"b", DIR)):
            self.mknod_in(parent, name, kind)
        a = self.model.children[ROOT_INO][b"a"]
        self.mknod_in(a, b"c", DIR)
        self.mknod_in(a, b"f", FILE)

    def mknod_in(self, parent: int, name: bytes, kind: InodeKind) -> None:
        inode = self.run(self.store.mknod(parent, name, kind, 0o755, 0, 0))
        self.model.mknod(parent, name, kind, inode.ino)

    @rule(parent=PICK, name=NAMES, kind=KINDS)
    def mknod(self, parent: int, name: bytes, kind: InodeKind) -> None:
        parent = self.pick(parent, dirs_only=True)
        target = b"t" if kind is SYMLINK else None
        call = self.store.mknod(parent, name, kind, 0o755, 0, 0, target=target)
        if done := self.same(call, self.model.check_mknod, parent, name):
            inode, _ = done
            assert (inode.kind, inode.nlink) == (kind, 2 if kind is DIR else 1)
            self.model.mknod(parent, name, kind, inode.ino)

    @rule(ino=PICK, parent=PICK, name=NAMES)
    def link(self, ino: int, parent: int, name: bytes) -> None:
        ino, parent = self.pick(ino), self.pick(parent, dirs_only=True)
        call = self.store.link(ino, parent, name)
        if done := self.same(call, self.model.link, ino, parent, name):
            inode, nlink = done
            assert (inode.ino, inode.nlink) == (ino, nlink)

    def pick_entry(self, index: int, name: bytes) -> tuple[int, bytes]:
        """Mostly an entry that exists; otherwise a directory and the name given."""
        entries = sorted(
            (parent, entry) for parent, names in self.model.children.items() for entry in names
        )
        if entries and index % 5 != 0:
            return entries[index % len(entries)]
        return self.pick(index, dirs_only=True), name

    @rule(entry=PICK, name=NAMES)
    def unlink(self, entry: int, name: bytes) -> None:
        parent, name = self.pick_entry(entry, name)
        if done := self.same(self.store.unlink(parent, name), self.model.unlink, parent, name):
            inode, nlink = done
            assert inode.nlink == nlink

    @rule(entry=PICK, name=NAMES)
    def rmdir(self, entry: int, name: bytes) -> None:
        parent, name = self.pick_entry(entry, name)
        if done := self.same(self.store.rmdir(parent, name), self.model.rmdir, parent, name):
            inode, _ = done
            assert inode.nlink == 0

    @rule(source=PICK, on=NAMES, dest=PICK, nn=NAMES, flags=FLAGS)
    def rename(self, source: int, on: bytes, dest: int, nn: bytes, flags: RenameFlags) -> None:
        self.rename_entries(self.pick_entry(source, on), self.pick_entry(dest, nn), flags)

    @rule(source=PICK, dest=PICK)
    def exchange(self, source: int, dest: int) -> None:
        """Two existing entries, often of different kinds in different directories."""
        self.rename_entries(
            self.pick_entry(source, b"a"), self.pick_entry(dest, b"b"), RenameFlags.EXCHANGE
        )

    def rename_entries(
        self, old: tuple[int, bytes], new: tuple[int, bytes], flags: RenameFlags
    ) -> None:
        (op, on), (np, nn) = old, new
        call = self.store.rename(op, on, np, nn, flags)
        if done := self.same(call, self.model.rename, op, on, np, nn, flags):
            replaced, expected = done
            assert (None if replaced is None else (replaced.ino, replaced.nlink)) == expected

    @rule()
    def purge_orphans(self) -> None:
        assert self.run(self.store.purge_orphans()) == self.model.purge_orphans()

    @invariant()
    def same_tree(self) -> None:
        for ino, kind in self.model.kind.items():
            inode = self.run(self.store.getattr(ino))
            assert (inode.kind, inode.nlink) == (kind, self.model.nlink[ino]), ino
            if kind is DIR:
                entries = self.run(self.store.readdir(ino, 0, 100))
                listed = {e.name: (e.ino, e.kind) for e in entries}
                model = self.model.children[ino]
                assert listed == {n: (i, self.model.kind[i]) for n, i in model.items()}

    @invariant()
    def same_totals(self) -> None:
        stats = self.run(self.store.stats())
        kinds = list(self.model.kind.values())
        assert (stats.files, stats.directories, stats.symlinks) == (
            kinds.count(FILE),
            kinds.count(DIR),
            kinds.count(SYMLINK),
        )
        last = self.run(self.store.last_seq())
        assert [c.seq for c in self.run(self.store.changes_since(last - 3))] == list(
            range(max(last - 2, 1), last + 1)
        )


NamespaceMachine.TestCase.settings = settings(
    max_examples=75,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestNamespaceModel = NamespaceMachine.TestCase
