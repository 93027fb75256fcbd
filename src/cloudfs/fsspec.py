"""CloudFileSystem: cloudfs as an fsspec filesystem (protocol ``cloudfs``).

URLs name a workspace, a filespace in it and a path inside that filespace::

    cloudfs://<workspace>/<filespace>/path/to/file

``<workspace>`` is the workspace's name or id, ``<filespace>`` the filespace's name.  Paths
without the protocol ("<workspace>/<filespace>/path", no leading or trailing slash) are
what every method returns in ``name`` fields, so ``ls`` and ``info`` agree and fsspec's
``find``/``glob``/``expand_path`` work on them.  The workspace keeps the spelling the caller
used (name or id), so ``info(p)["name"] == p`` for any normalised ``p``.

Storage options (fsspec caches one instance, hence one client, per option set):

``token``
    a service-account token ``sa_live:<key_id>:<secret>``;
``passphrase``
    opens filespaces when no token is given;
``home``
    the embedded workspace folder (default ``$CLOUDFS_HOME``);
``cache_size_mb``
    the client's in-memory block cache (``ClientConfig.fs_cache_size_mb``; default 64).

Credentials are chosen explicit-first: ``token=``, then ``passphrase=``, then the
``CLOUDFS_TOKEN`` and ``CLOUDFS_PASSPHRASE`` environment variables.

Mechanism: each instance owns one :class:`cloudfs.Client`, created on first use and
closed by :meth:`CloudFileSystem.close`, when the instance is collected, or at interpreter
exit; after ``close`` the next call starts a new client.  The exit hook runs among
``threading``'s exit hooks, before ``concurrent.futures`` shuts its thread pools down
(the client still needs them to sync and close), not in ``atexit`` (too late).
Filespaces are linked on first use and stay linked until ``close``.

Every method is a thin translation onto the SDK's ``Filesystem``.  Opened files are the
``io`` buffered streams over the SDK's raw :class:`cloudfs.FileStream` (with ``fs``,
``path`` and ``size`` added); ``get``/``put``/``cp_file``/``pipe_file`` and ``cat_file``
ranges move data ``CHUNK`` bytes at a time through raw streams, so memory is bounded by
that and the client's block cache, never by the file size.  Nothing is cached here:
listings always come from the filespace.

Limitations:

* The workspace and filespace levels are read-only: ``mkdir``/``rm``/``mv`` there raise
  ``PermissionError`` (filespaces are created with the CLI).
* ``mv`` onto an existing file deletes it first: not atomic.  ``mv`` across filespaces is
  copy-then-delete.
* Transactions (``autocommit=False``) are not supported.
* A filespace may be linked by one client per process; a ``cloudfs.Client`` of your own
  that links the same filespace makes this filesystem fail with
  ``FilespaceAlreadyLinkedError`` (and vice versa).  A forked child must not reuse a
  parent's instance (its client's loop thread does not survive the fork).
* ``created`` is the entry's change time (cloudfs keeps no birth time) except for a
  filespace root, where it is the filespace's creation time.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401  (see _close_at_exit)
import contextlib
import datetime
import errno
import io
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fsspec.callbacks import DEFAULT_CALLBACK, Callback  # type: ignore[import-untyped]
from fsspec.spec import AbstractFileSystem  # type: ignore[import-untyped]
from fsspec.utils import isfilelike, stringify_path  # type: ignore[import-untyped]

from cloudfs.errors import CloudfsError, FilespaceNotFoundError, fs_error
from cloudfs.sdk.client import Client, Workspace
from cloudfs.sdk.filesystem import Filesystem
from cloudfs.sdk.models import (
    ClientConfig,
    DirEntry,
    FilespaceInfo,
    ServiceAccountCredentials,
)
from cloudfs.sdk.stream import FileStream, parse_mode

__all__ = ["CloudFile", "CloudFileSystem"]

CHUNK = 1024 * 1024  # bytes per step of a streamed copy, get, put or ranged read
DEFAULT_BUFFER = 1024 * 1024
_TYPES = {"file": "file", "dir": "directory"}


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


class _Location:
    """A stripped path split into workspace, filespace and the path inside it."""

    def __init__(self, stripped: str) -> None:
        self.name = stripped
        parts = stripped.split("/") if stripped else []
        self.workspace = parts[0] if parts else ""
        self.filespace = parts[1] if len(parts) > 1 else ""
        self.inner = "/" + "/".join(parts[2:])

    @property
    def level(self) -> int:
        """0: the root, 1: a workspace, 2: a filespace root, 3: inside a filespace."""
        if not self.workspace:
            return 0
        if not self.filespace:
            return 1
        return 2 if self.inner == "/" else 3


class CloudFile:
    """What ``CloudFileSystem.open`` adds to the SDK's buffered streams."""

    fs: CloudFileSystem
    path: str

    @property
    def size(self) -> int:
        """The file's current size (asked of the filespace, never cached)."""
        return int(self.fs.size(self.path))

    def info(self) -> dict[str, Any]:
        return self.fs.info(self.path)


class CloudReadFile(CloudFile, io.BufferedReader):
    def __init__(self, raw: FileStream, buffer_size: int, fs: CloudFileSystem, path: str) -> None:
        super().__init__(raw, buffer_size)
        self.fs, self.path = fs, path


class CloudWriteFile(CloudFile, io.BufferedWriter):
    def __init__(self, raw: FileStream, buffer_size: int, fs: CloudFileSystem, path: str) -> None:
        super().__init__(raw, buffer_size)
        self.fs, self.path = fs, path


class CloudRandomFile(CloudFile, io.BufferedRandom):
    def __init__(self, raw: FileStream, buffer_size: int, fs: CloudFileSystem, path: str) -> None:
        super().__init__(raw, buffer_size)
        self.fs, self.path = fs, path


@contextlib.contextmanager
def _named(name: str, name2: str | None = None) -> Iterator[None]:
    """Re-raise a builtin ``OSError`` from the SDK with the fsspec path as its file name."""
    try:
        yield
    except OSError as e:
        if not e.errno or isinstance(e, CloudfsError):
            raise
        raise type(e)(e.errno, os.strerror(e.errno), name, None, name2) from e


_live: set[weakref.finalize[..., Any]] = set()  # the clients still to close at exit
_live_lock = threading.Lock()


def _close_at_exit() -> None:
    with _live_lock:
        pending = list(_live)
        _live.clear()
    for finalizer in pending:
        with contextlib.suppress(Exception):  # one failing client must not keep others open
            finalizer()


# threading's exit hooks run in reverse order of registration, so registering after
# concurrent.futures.thread (imported above) closes clients before their thread pools stop.
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(_close_at_exit)
else:  # pragma: no cover - every supported Python has it
    atexit.register(_close_at_exit)


def _copy(src: Any, dst: Any, callback: Callback = DEFAULT_CALLBACK) -> None:
    """Copy file object to file object, ``CHUNK`` bytes at a time."""
    while chunk := src.read(CHUNK):
        view = memoryview(chunk)
        while view:  # a raw stream may take less than it was given
            written = dst.write(view)
            view = view[len(view) if written is None else written :]
        callback.relative_update(len(chunk))


def _time(ns: int) -> float:
    return ns / 1e9


class CloudFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """fsspec access to the filespaces of a cloudfs workspace.  See the module docstring."""

    protocol = "cloudfs"
    root_marker = ""

    def __init__(
        self,
        token: str | None = None,
        passphrase: str | None = None,
        home: str | os.PathLike[str] | None = None,
        cache_size_mb: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            token=token, passphrase=passphrase, home=home, cache_size_mb=cache_size_mb, **kwargs
        )
        self._token = token
        self._passphrase = passphrase
        self._home = home
        self._cache_size_mb = cache_size_mb
        self._lock = threading.RLock()
        self._client: Client | None = None
        self._finalizer: weakref.finalize[..., Any] | None = None
        self._workspaces: dict[str, Workspace] = {}
        self._filesystems: dict[tuple[str, str], Filesystem] = {}

    # -- paths -----------------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """``cloudfs://ws/fs//a/`` → ``ws/fs/a``: no protocol, no empty parts."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        for prefix in (f"{cls.protocol}://", f"{cls.protocol}::"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
        return "/".join(part for part in path.split("/") if part)

    def _locate(self, path: Any) -> _Location:
        return _Location(self._strip_protocol(path))

    # -- the client ------------------------------------------------------------------------
    def _connect(self) -> Client:
        token = self._token
        passphrase = self._passphrase
        if token is None and passphrase is None:
            token = os.environ.get("CLOUDFS_TOKEN") or None
        home = Path(self._home) if self._home is not None else None
        config = ClientConfig(
            home=home, passphrase=passphrase, fs_cache_size_mb=self._cache_size_mb
        )
        client = Client(config=config)
        try:
            if token is not None:
                client.login(ServiceAccountCredentials(token))
        except BaseException:
            client.close()
            raise
        return client

    def client(self) -> Client:
        """This filesystem's SDK client, created on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
                self._finalizer = weakref.finalize(self, self._client.close)
                self._finalizer.atexit = False  # _close_at_exit does it, earlier
                with _live_lock:
                    _live.difference_update([f for f in _live if not f.alive])
                    _live.add(self._finalizer)
            return self._client

    def close(self) -> None:
        """Unlink every filespace (syncing it) and close the client.  Idempotent."""
        with self._lock:
            finalizer, self._finalizer = self._finalizer, None
            self._client = None
            self._workspaces.clear()
            self._filesystems.clear()
        if finalizer is not None:
            with _live_lock:
                _live.discard(finalizer)
            finalizer()

    def _workspace(self, loc: _Location) -> Workspace:
        with self._lock:
            if loc.workspace not in self._workspaces:
                client = self.client()
                for info in client.list_workspaces():
                    if loc.workspace in (info.name, info.id):
                        self._workspaces[loc.workspace] = client.get_workspace(info.id)
                        break
                else:
                    raise fs_error(errno.ENOENT, "no such workspace", loc.workspace)
            return self._workspaces[loc.workspace]

    def _filesystem(self, loc: _Location) -> Filesystem:
        key = (loc.workspace, loc.filespace)
        with self._lock:
            if key not in self._filesystems:
                workspace = self._workspace(loc)
                try:
                    filespace = workspace.link_filespace(name=loc.filespace)
                except FilespaceNotFoundError as e:
                    name = f"{loc.workspace}/{loc.filespace}"
                    raise fs_error(errno.ENOENT, "no such filespace", name) from e
                self._filesystems[key] = filespace.fs
            return self._filesystems[key]

    def _inside(self, path: Any) -> tuple[_Location, Filesystem]:
        """A path inside a filespace (or its root) and that filespace's filesystem."""
        loc = self._locate(path)
        if loc.level < 2:
            raise fs_error(errno.EISDIR, "not inside a filespace", loc.name)
        return loc, self._filesystem(loc)

    # -- listing ---------------------------------------------------------------------------
    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        entries = self._ls(self._locate(path))
        return entries if detail else [entry["name"] for entry in entries]

    def _ls(self, loc: _Location) -> list[dict[str, Any]]:
        if loc.level == 0:
            return [self._workspace_info(info.name) for info in self.client().list_workspaces()]
        if loc.level == 1:
            workspace = self._workspace(loc)
            return [self._filespace_info(loc, info) for info in workspace.list_filespaces()]
        fs = self._filesystem(loc)
        try:
            with _named(loc.name):
                entries = fs.read_dir(loc.inner)
        except NotADirectoryError:
            return [self.info(loc.name)]  # fsspec: ls of a file lists that file
        prefix = loc.name + "/"
        return [
            self._entry_info(
                fs, prefix + entry.name, loc.inner.rstrip("/") + "/" + entry.name, entry
            )
            for entry in entries
        ]

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        loc = self._locate(path)
        if loc.level == 0:
            return {"name": "", "size": 0, "type": "directory", "islink": False}
        if loc.level == 1:
            return self._workspace_info(self._workspace(loc).name, loc.workspace)
        if loc.level == 2:
            for record in self._workspace(loc).list_filespaces():
                if record.name == loc.filespace:
                    return self._filespace_info(loc, record)
            raise fs_error(errno.ENOENT, "no such filespace", loc.name)
        fs = self._filesystem(loc)
        with _named(loc.name):
            return self._entry_info(fs, loc.name, loc.inner, fs.get_entry(loc.inner))

    @staticmethod
    def _workspace_info(name: str, spelled: str | None = None) -> dict[str, Any]:
        return {"name": spelled or name, "size": 0, "type": "directory", "islink": False}

    @staticmethod
    def _filespace_info(loc: _Location, record: FilespaceInfo) -> dict[str, Any]:
        return {
            "name": f"{loc.workspace}/{record.name}",
            "size": 0,
            "type": "directory",
            "islink": False,
            "created": record.created,
        }

    def _entry_info(self, fs: Filesystem, name: str, inner: str, entry: DirEntry) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": name,
            "size": entry.size,
            "type": _TYPES.get(entry.type, "other"),
            "islink": entry.is_link(),
            "mtime": _time(entry.mtime),
            "created": _time(entry.ctime),
            "ino": entry.file_id,
        }
        if entry.is_dir():
            info["size"] = 0
        if entry.is_link():  # like fsspec's local filesystem: the target's type and size
            info["destination"] = fs.read_symlink(inner)
            info["type"], info["size"] = self._link_target(fs, inner)
        return info

    @staticmethod
    def _link_target(fs: Filesystem, inner: str) -> tuple[str, int]:
        if fs.dir_exists(inner):
            return "directory", 0
        if fs.file_exists(inner):
            with fs.open(inner, "rb", buffering=0) as f:
                return "file", f.seek(0, io.SEEK_END)
        return "other", 0  # a dangling or looping link

    def exists(self, path: Any, **kwargs: Any) -> bool:
        """Whether ``path`` exists; unlike fsspec's default, other errors propagate."""
        try:
            self.info(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def created(self, path: Any) -> datetime.datetime:
        return self._when(path, "created")

    def modified(self, path: Any) -> datetime.datetime:
        loc = self._locate(path)
        if loc.level == 2:  # the filespace root's own entry
            with _named(loc.name):
                mtime = self._filesystem(loc).get_entry("/").mtime
            return datetime.datetime.fromtimestamp(_time(mtime), tz=datetime.UTC)
        return self._when(path, "mtime")

    def _when(self, path: Any, key: str) -> datetime.datetime:
        value = self.info(path).get(key)
        if value is None:
            raise NotImplementedError(f"no {key} time for {self._strip_protocol(path)!r}")
        return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)

    # -- directories -----------------------------------------------------------------------
    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        loc = self._locate(path)
        if loc.level < 3:
            self._refuse_top_level(loc, "create")
        fs = self._filesystem(loc)
        if create_parents:
            self.makedirs(self._parent(loc.name), exist_ok=True)
        with _named(loc.name):
            fs.create_dir(loc.inner)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        loc = self._locate(path)
        if loc.level < 3:
            if not self.exists(loc.name):
                self._refuse_top_level(loc, "create")
            if not exist_ok:
                raise fs_error(errno.EEXIST, path=loc.name)
            return
        fs = self._filesystem(loc)
        if fs.dir_exists(loc.inner):  # the common case: one call
            if not exist_ok:
                raise fs_error(errno.EEXIST, path=loc.name)
            return
        parts = loc.inner.strip("/").split("/")
        with _named(loc.name):
            for depth in range(1, len(parts) + 1):
                inner = "/" + "/".join(parts[:depth])
                try:
                    fs.create_dir(inner)
                except FileExistsError:
                    if not fs.dir_exists(inner):  # a file (or link to one) in the way
                        raise
                    if depth == len(parts) and not exist_ok:
                        raise

    def rmdir(self, path: Any) -> None:
        loc = self._locate(path)
        if loc.level < 3:
            self._refuse_top_level(loc, "remove")
        with _named(loc.name):
            self._filesystem(loc).delete_dir(loc.inner)

    def _refuse_top_level(self, loc: _Location, verb: str) -> None:
        what = "filespaces" if loc.level == 2 else "workspaces"
        if loc.level == 0:
            raise fs_error(errno.EPERM, f"cannot {verb} the root", loc.name)
        raise fs_error(errno.EPERM, f"fsspec cannot {verb} {what} (use the cloudfs CLI)", loc.name)

    # -- removing --------------------------------------------------------------------------
    def rm_file(self, path: Any) -> None:
        """Delete a file, a symlink or an empty directory."""
        loc, fs = self._inside(path)
        if loc.level < 3:
            self._refuse_top_level(loc, "remove")
        with _named(loc.name):
            if fs.get_entry(loc.inner).is_dir():
                fs.delete_dir(loc.inner)
            else:
                fs.delete(loc.inner)

    def _rm(self, path: Any) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files or trees; one SDK call for a plain path with ``recursive=True``."""
        if isinstance(path, str) and recursive and maxdepth is None and not _has_magic(path):
            loc = self._locate(path)
            if loc.level < 3:
                self._refuse_top_level(loc, "remove")
            fs = self._filesystem(loc)
            with _named(loc.name):
                if fs.get_entry(loc.inner).is_dir():
                    fs.delete_dir(loc.inner, recursive=True)
                else:
                    fs.delete(loc.inner)
            return
        super().rm(path, recursive=recursive, maxdepth=maxdepth)

    # -- moving and copying ----------------------------------------------------------------
    def mv(
        self,
        path1: Any,
        path2: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Rename within a filespace (into ``path2`` if it is a directory, replacing a file
        there, like ``shutil.move``); elsewhere fsspec's copy-then-delete."""
        single = isinstance(path1, str) and isinstance(path2, str) and not _has_magic(path1)
        src, dst = self._locate(path1), self._locate(path2)
        same = (src.workspace, src.filespace) == (dst.workspace, dst.filespace)
        if not (single and same and src.level == 3 and dst.level >= 2):
            recursive = recursive or (single and self.isdir(path1))
            super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)
            return
        if src.name == dst.name:
            return
        fs = self._filesystem(src)
        target = dst.inner
        if fs.dir_exists(target):
            target = target.rstrip("/") + "/" + src.inner.rsplit("/", 1)[1]
        with _named(src.name, dst.name):
            if target == src.inner:
                return
            self._replace_file(fs, src.inner, target)
            fs.move(src.inner, target)

    @staticmethod
    def _replace_file(fs: Filesystem, src: str, target: str) -> None:
        moving_dir = fs.get_entry(src).is_dir()  # a missing source fails before any change
        try:
            existing = fs.get_entry(target)
        except FileNotFoundError:
            return
        if existing.is_dir():
            raise fs_error(errno.EEXIST, path=target)
        if moving_dir:
            raise fs_error(errno.ENOTDIR, path=target)
        fs.delete(target)

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        """Copy one file in bounded memory (a directory: create it), across filespaces too."""
        src, src_fs = self._inside(path1)
        if src.level == 2 or src_fs.get_entry(src.inner).is_dir():
            self.makedirs(path2, exist_ok=True)
            return
        dst = self._locate(path2)
        if dst.name == src.name:
            return  # copying a file onto itself would truncate it first
        with self._open_raw(src, "rb") as fin, self._open_raw(dst, "wb") as fout:
            _copy(fin, fout)

    def get_file(
        self,
        rpath: Any,
        lpath: Any,
        callback: Callback = DEFAULT_CALLBACK,
        outfile: Any = None,
        **kwargs: Any,
    ) -> None:
        """Download one file (a directory: create it locally) in bounded memory."""
        loc = self._locate(rpath)
        if outfile is None and isfilelike(lpath):
            outfile = lpath
        if outfile is None and self.isdir(loc.name):
            os.makedirs(lpath, exist_ok=True)
            return
        with self._open_raw(loc, "rb") as src:
            callback.set_size(src.seek(0, io.SEEK_END))
            src.seek(0)
            if outfile is not None:
                _copy(src, outfile, callback)
                return
            os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
            with open(lpath, "wb") as dst:
                _copy(src, dst, callback)

    def put_file(
        self,
        lpath: Any,
        rpath: Any,
        callback: Callback = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        """Upload one file (a directory: create it) in bounded memory; ``mode="create"``
        fails if ``rpath`` exists."""
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        with open(lpath, "rb") as src:
            callback.set_size(os.fstat(src.fileno()).st_size)
            with self._open_raw(self._locate(rpath), "xb" if mode == "create" else "wb") as dst:
                _copy(src, dst, callback)

    # -- reading and writing ---------------------------------------------------------------
    def _open_raw(self, loc: _Location, mode: str) -> FileStream:
        """The SDK's raw stream on ``loc``; writing modes create missing parents."""
        if loc.level < 3:
            raise fs_error(errno.EISDIR, path=loc.name)
        fs = self._filesystem(loc)
        if parse_mode(mode).writable and loc.inner.count("/") > 1:
            self.makedirs(self._parent(loc.name), exist_ok=True)
        with _named(loc.name):
            raw: FileStream = fs.open(loc.inner, mode, buffering=0)  # type: ignore[assignment]
        return raw

    def _open(
        self,
        path: Any,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> CloudFile:
        """The SDK's buffered binary stream: any of Python's binary modes."""
        if not autocommit:
            raise NotImplementedError("cloudfs does not support fsspec transactions")
        decoded = parse_mode(mode)
        if not decoded.binary:
            raise ValueError(f"_open takes a binary mode, not {mode!r}")
        loc = self._locate(path)
        raw = self._open_raw(loc, mode)
        size = block_size or DEFAULT_BUFFER
        if decoded.readable and decoded.writable:
            return CloudRandomFile(raw, size, self, loc.name)
        if decoded.writable:
            return CloudWriteFile(raw, size, self, loc.name)
        return CloudReadFile(raw, size, self, loc.name)

    def cat_file(
        self, path: Any, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """Bytes ``[start:end]`` of a file (negative values count from its end)."""
        with self._open_raw(self._locate(path), "rb") as raw:
            size = raw.seek(0, io.SEEK_END)
            first = 0 if start is None else max(0, size + start if start < 0 else start)
            stop = size if end is None else min(size, size + end if end < 0 else end)
            pieces: list[bytes] = []
            offset = first
            while offset < stop:
                piece = raw.pread(min(CHUNK, stop - offset), offset)
                if not piece:
                    break
                pieces.append(piece)
                offset += len(piece)
            return b"".join(pieces)

    def pipe_file(self, path: Any, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Write ``value`` to a file; ``mode="create"`` fails if it exists (atomically)."""
        view = memoryview(value).cast("B")
        with self._open_raw(self._locate(path), "xb" if mode == "create" else "wb") as raw:
            for offset in range(0, len(view), CHUNK):
                piece = view[offset : offset + CHUNK]
                while piece:
                    piece = piece[raw.write(piece) :]
