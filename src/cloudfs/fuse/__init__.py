"""The FUSE front end: the only package that imports pyfuse3.

* :mod:`cloudfs.fuse.adapter` — :class:`FuseOperations`, a mechanical adapter from
  pyfuse3's low-level inode requests to :class:`cloudfs.vfs.core.Vfs` calls.
* :mod:`cloudfs.fuse.mount` — the mount's lifecycle: check the mount point, mount, serve
  on the event loop that owns the VFS, and unmount cleanly on a signal.
"""

from __future__ import annotations

from cloudfs.fuse.adapter import FuseOperations
from cloudfs.fuse.mount import MountError, MountOptions, check_mountpoint, serve

__all__ = ["FuseOperations", "MountError", "MountOptions", "check_mountpoint", "serve"]
