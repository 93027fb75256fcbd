"""Fixtures of the FUSE tests: a fresh workspace and a mount of its filespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuse.mounting import Mount, init_workspace


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh workspace with a 'default' filespace (local-folder store)."""
    path = tmp_path / "home"
    init_workspace(path)
    return path


@pytest.fixture
def mount(home: Path, tmp_path: Path) -> Iterator[Mount]:
    """The filespace of ``home`` mounted on ``tmp_path/mnt``; unmounted at the end."""
    with Mount(home, tmp_path / "mnt") as m:
        yield m


@pytest.fixture(scope="module")
def shared_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    """One mount for a whole module (tests use their own folders in it)."""
    root = tmp_path_factory.mktemp("shared")
    init_workspace(root / "home")
    with Mount(root / "home", root / "mnt") as m:
        yield m
