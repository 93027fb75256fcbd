"""Path resolution for the front ends that speak paths (SDK, CLI); FUSE speaks inodes.

Paths are absolute and ``/``-separated.  ``.`` is dropped and ``..`` steps up, both in the
path and in symlink targets met on the way; symlinks in the middle of a path are always
followed (at most :data:`MAX_SYMLINKS` of them, then ``ELOOP``), the last component only
when asked.
"""

from __future__ import annotations

import errno

from cloudfs.errors import fs_error
from cloudfs.meta.protocol import ROOT_INO, Inode, InodeKind
from cloudfs.vfs.core import Vfs

__all__ = ["MAX_SYMLINKS", "normalize", "resolve", "resolve_or_place", "resolve_parent", "split"]

MAX_SYMLINKS = 40


def split(path: str) -> list[str]:
    """The components of an absolute path, with ``.``, ``..`` and empty parts resolved.

    ``ValueError`` for a path that is not a non-empty absolute string.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be str, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"path must be absolute (start with '/'): {path!r}")
    if "\0" in path:
        raise ValueError("path contains a NUL character")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


def normalize(path: str) -> str:
    return "/" + "/".join(split(path))


async def resolve(vfs: Vfs, path: str, *, follow: bool = True) -> Inode:
    """The inode at ``path``; follows a final symlink only when ``follow``."""
    return await _walk(vfs, split(path), follow=follow)


async def resolve_or_place(vfs: Vfs, path: str) -> tuple[Inode | None, tuple[Inode, str] | None]:
    """``(inode, None)`` for an existing path (a final symlink followed), or ``(None,
    (parent, name))`` when only its last component is missing and no symlink was on the
    way: where a file of that path would be created, without a second walk.
    ``FileNotFoundError`` for any other miss (a missing folder, a dangling symlink)."""
    place: list[tuple[Inode, str]] = []
    try:
        return await _walk(vfs, split(path), follow=True, missing=place), None
    except FileNotFoundError:
        if not place:
            raise
        return None, place[0]


async def resolve_parent(vfs: Vfs, path: str) -> tuple[Inode, str]:
    """The directory that holds ``path``'s last component, and that component."""
    parts = split(path)
    if not parts:
        raise ValueError("the root has no parent")
    parent = await _walk(vfs, parts[:-1], follow=True)
    if parent.kind != InodeKind.DIR:
        raise fs_error(errno.ENOTDIR, path=path)
    return parent, parts[-1]


async def _walk(
    vfs: Vfs, parts: list[str], *, follow: bool, missing: list[tuple[Inode, str]] | None = None
) -> Inode:
    """Walk ``parts`` from the root; a missing last component met with no symlink on the
    way is also appended to ``missing`` as ``(parent, name)`` before ``ENOENT`` is raised."""
    todo = list(reversed(parts))
    trail = [await vfs.getattr(ROOT_INO)]  # the directories walked through, for '..'
    links = 0
    while todo:
        name = todo.pop()
        if name == "..":
            if len(trail) > 1:
                trail.pop()
            continue
        current = trail[-1]
        if current.kind != InodeKind.DIR:
            raise fs_error(errno.ENOTDIR)
        try:
            child = await vfs.lookup(current.ino, name)
        except FileNotFoundError:
            if missing is not None and not todo and not links:
                missing.append((current, name))
            raise
        if child.kind == InodeKind.SYMLINK and (todo or follow):
            links += 1
            if links > MAX_SYMLINKS:
                raise fs_error(errno.ELOOP)
            target = await vfs.readlink(child.ino)
            if target.startswith("/"):
                del trail[1:]
            todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        trail.append(child)
    return trail[-1]
