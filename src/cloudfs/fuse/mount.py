"""The mount's lifecycle: check the mount point, mount, serve, unmount.

:func:`serve` runs in the main thread of the mount process.  The filespace is linked
through the SDK as usual (``Client`` → ``link_filespace``), so its VFS lives on the
client's private event-loop thread and its state folder (disk cache, journal, pins) is
owned by this process; pyfuse3 runs in asyncio mode on that same loop, so every request
handler awaits the VFS directly.  The main thread only waits, and turns SIGINT/SIGTERM
into ``pyfuse3.terminate()`` on the loop.

Shutdown, whatever ended the main loop (a signal, ``fusermount3 -u``, an error):

1. stop serving and unmount (lazily: processes still holding files get ENOTCONN, new
   ones see the empty mount point instead of hanging);
2. journal the writes of every handle still open (``flush``);
3. wait up to ``drain_seconds`` for the upload queue to commit everything; what is not
   committed by then stays journaled and is replayed on the next start;
4. close the VFS and release the state folder (the caller unlinks the filespace).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import functools
import logging
import os
import signal
import stat
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pyfuse3
import pyfuse3.asyncio

from cloudfs.errors import MountError
from cloudfs.fuse.adapter import FuseOperations
from cloudfs.sdk.client import Filespace, FrontEnd
from cloudfs.sdk.models import SyncMode

__all__ = ["MountError", "MountOptions", "check_mountpoint", "serve"]

log = logging.getLogger(__name__)

T = TypeVar("T")
READY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class MountOptions:
    """How to mount.  ``timeout`` is the kernel's entry and attribute cache time."""

    read_only: bool = False
    allow_other: bool = False
    timeout: float = 1.0
    drain_seconds: float = 30.0  # at unmount: wait this long for uploads, then journal
    fsname: str = "cloudfs"
    # The kernel's read-ahead for the mount.  FUSE starts every mount at 128 KiB, which
    # cuts sequential reads into 128 KiB requests; at 1 MiB they arrive as 1 MiB requests
    # (the largest libfuse passes).  Measured on Ceph (256 MiB file): warm re-read ~340 ->
    # ~510 MB/s, cold read ~105-130 -> ~150-180 MB/s; 4 and 16 MiB were no better.
    read_ahead_kib: int = 1024

    def fuse_options(self) -> set[str]:
        """libfuse mount options (never ``max_read``: it breaks pyfuse3 on libfuse 3.14)."""
        opts = {f"fsname={self.fsname}", "subtype=cloudfs", "default_permissions"}
        if self.read_only:
            opts.add("ro")
        if self.allow_other:
            opts.add("allow_other")
        return opts


def check_mountpoint(path: Path) -> None:
    """Raise :class:`MountError` unless ``path`` is an empty directory, not mounted."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MountError(f"mount point {path} does not exist") from None
    except OSError as e:
        if e.errno == errno.ENOTCONN:
            raise MountError(
                f"mount point {path} is a dead mount (transport endpoint is not connected): "
                f"run 'cloudfs umount {path}' first"
            ) from None
        raise MountError(f"mount point {path}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(f"mount point {path} is not a directory")
    if os.path.ismount(path):
        raise MountError(f"mount point {path} is busy: something is already mounted there")
    if os.listdir(path):
        raise MountError(f"mount point {path} is not empty")


def serve(
    filespace: Filespace,
    mountpoint: Path,
    options: MountOptions,
    *,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """Mount ``filespace`` on ``mountpoint`` and serve it until unmounted or signalled.

    Runs in the main thread (it installs SIGINT/SIGTERM handlers for the duration).  The
    filespace is closed on return, with pending uploads committed or journaled.
    """
    check_mountpoint(mountpoint)
    front = filespace.front_end()
    if not front.owns_state:
        raise MountError(
            f"filespace {filespace.name!r} is already mounted (its state folder is in use "
            "by another process)"
        )
    pyfuse3.asyncio.enable()
    session = _Session(front, str(mountpoint), options)
    main: concurrent.futures.Future[None] | None = None
    try:
        _run(front.loop, session.mount())
        stop = functools.partial(front.loop.call_soon_threadsafe, session.terminate)
        with _signals(stop):
            main = asyncio.run_coroutine_threadsafe(session.main(), front.loop)
            _wait_answering(main, mountpoint)
            _set_read_ahead(mountpoint, options.read_ahead_kib)
            on_ready()
            _wait(main)
    finally:
        try:
            if main is not None and not main.done():  # failed while starting: stop serving
                front.loop.call_soon_threadsafe(session.terminate)
                with contextlib.suppress(Exception):
                    main.result(timeout=READY_SECONDS)
            if session.mounted:
                _run(front.loop, session.shutdown())
        finally:
            filespace.sync_mode = SyncMode.SYNC_NONE  # drained or journaled by shutdown
            filespace.unlink()


class _Session:
    """The pyfuse3 session; every method runs on the loop that owns the VFS."""

    def __init__(self, front: FrontEnd, mountpoint: str, options: MountOptions) -> None:
        self.ops = FuseOperations(front.vfs, timeout=options.timeout)
        self.vfs = front.vfs
        self.mountpoint = mountpoint
        self.options = options
        self.mounted = False
        self.serving = False
        self.stopped_by_us = False  # else the kernel ended the session: already unmounted

    async def mount(self) -> None:
        try:
            pyfuse3.init(self.ops, self.mountpoint, self.options.fuse_options())
        except RuntimeError as e:
            raise MountError(f"could not mount on {self.mountpoint}: {e}") from e
        self.mounted = True

    async def main(self) -> None:
        self.serving = True
        try:
            await pyfuse3.main()
        except BaseException:
            self.stopped_by_us = True  # still mounted: unmount at shutdown
            raise
        finally:
            self.serving = False

    def terminate(self) -> None:
        if self.serving:
            log.info("unmounting %s", self.mountpoint)
            self.stopped_by_us = True
            # pyfuse3's asyncio layer fails the pending wait on the session's fd but
            # leaves the fd's reader registered until a later callback; a request that
            # arrives in between would complete the failed wait again (InvalidStateError
            # logged).  Removing the readers first cancels such a callback.
            loop = asyncio.get_running_loop()
            for fd in list(getattr(pyfuse3.asyncio, "_read_futures", {})):
                loop.remove_reader(fd)
            pyfuse3.terminate()

    async def shutdown(self) -> None:
        self.mounted = False
        # After an external unmount (fusermount3 -u) the mount point may already hold a
        # new mount: unmount only what this process stopped itself.
        pyfuse3.close(unmount=self.stopped_by_us)
        await self.ops.flush_all()
        try:
            await asyncio.wait_for(self.vfs.sync_all(), self.options.drain_seconds)
        except TimeoutError:
            log.warning(
                "uploads not finished after %.0f s: they stay journaled and resume on the "
                "next start",
                self.options.drain_seconds,
            )
        except Exception:
            log.exception("uploads failed at unmount: they stay journaled")


def _run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def _wait_answering(main: concurrent.futures.Future[None], mountpoint: Path) -> None:
    """Return once the mount answers a ``stat`` (the kernel handshake is done)."""
    answered: concurrent.futures.Future[None] = concurrent.futures.Future()

    def probe() -> None:
        try:
            os.stat(mountpoint)
            answered.set_result(None)
        except OSError as e:
            answered.set_exception(e)

    threading.Thread(target=probe, name="cloudfs-mount-probe", daemon=True).start()
    done, _ = concurrent.futures.wait([main, answered], READY_SECONDS, "FIRST_COMPLETED")
    if main in done:
        main.result()  # raises what stopped the main loop
        raise MountError(f"the mount on {mountpoint} stopped before it was ready")
    if answered not in done:
        raise MountError(f"the mount on {mountpoint} did not answer within {READY_SECONDS} s")
    answered.result()


def _set_read_ahead(mountpoint: Path, kib: int) -> None:
    """Set the read-ahead of the mount's backing device (``bdi``), named by the mount's
    ``st_dev``.  Only root may write it: otherwise the kernel's default stays."""
    dev = os.stat(mountpoint).st_dev
    knob = Path(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb")
    try:
        knob.write_text(f"{kib}\n")
    except OSError as e:
        log.info("read-ahead of %s left at the kernel's default: %s", mountpoint, e)


def _wait(future: concurrent.futures.Future[None]) -> None:
    """Wait for ``future`` in short slices, so signal handlers run promptly."""
    while True:
        try:
            future.result(timeout=0.5)
            return
        except concurrent.futures.TimeoutError:
            continue


@contextlib.contextmanager
def _signals(stop: Callable[[], object]) -> Iterator[None]:
    """Call ``stop`` on SIGINT or SIGTERM (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
