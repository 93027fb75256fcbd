"""fsspec's own abstract test suite (``fsspec.tests.abstract``) run on CloudFileSystem.

Wired like fsspec's memory-filesystem fixtures: ``fs`` is a CloudFileSystem on a fresh
embedded workspace, ``fs_path`` a folder inside its 'default' filespace, and paths are
joined with "/" (fsspec paths, not local ones).

fsspec 2026.9 ships AbstractCopyTests, AbstractGetTests, AbstractPutTests,
AbstractOpenTests and AbstractPipeTests.  It has no ``AbstractMoveTests`` class:
``fsspec/tests/abstract/mv.py`` holds only module-level tests of the *local* filesystem,
so there is nothing of it to run here; ``test_fsspec.py`` covers ``mv`` instead.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fsspec.tests.abstract import (
    AbstractCopyTests,
    AbstractFixtures,
    AbstractGetTests,
    AbstractOpenTests,
    AbstractPipeTests,
    AbstractPutTests,
)

from cloudfs.fsspec import CloudFileSystem


class CloudFixtures(AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, cloud: CloudFileSystem) -> CloudFileSystem:
        return cloud

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return lambda *args: "/".join(args)

    @pytest.fixture
    def fs_path(self, root: str) -> str:
        return f"{root}/abstract"


class TestCloudCopy(AbstractCopyTests, CloudFixtures):  # type: ignore[misc]
    pass


class TestCloudGet(AbstractGetTests, CloudFixtures):  # type: ignore[misc]
    pass


class TestCloudPut(AbstractPutTests, CloudFixtures):  # type: ignore[misc]
    pass


class TestCloudOpen(AbstractOpenTests, CloudFixtures):  # type: ignore[misc]
    pass


class TestCloudPipe(AbstractPipeTests, CloudFixtures):  # type: ignore[misc]
    pass
