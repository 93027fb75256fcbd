"""The VFS contract suite through a real kernel mount, with the ``os`` driver.

One mount serves the module; each test gets an empty folder of its own in it.
"""

from __future__ import annotations

import itertools

import pytest

from tests.contracts.os_driver import OsDriver
from tests.contracts.vfs_contract import FsDriver, VfsContract
from tests.fuse.mounting import Mount, fuse_only

pytestmark = fuse_only

_folders = itertools.count()


class TestVfsThroughMount(VfsContract):
    @pytest.fixture
    def fs(self, shared_mount: Mount) -> FsDriver:
        root = shared_mount.path / f"t{next(_folders)}"
        root.mkdir()
        return OsDriver(root)
